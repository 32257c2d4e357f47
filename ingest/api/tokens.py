"""API tokens, in the state database (table `api_tokens`): only the SHA-256 of each secret is kept.

A secret is `sft_` + 32 random bytes (URL-safe base64), so a plain hash is enough: there is nothing
to guess that a slow hash would protect. Scopes nest: admin ⊇ command ⊇ read.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update

from ingest.state.database import StateDatabase
from ingest.state.schema import api_tokens

PREFIX = "sft_"


class Scope(StrEnum):
    READ = "read"
    COMMAND = "command"
    ADMIN = "admin"

    def covers(self, needed: Scope) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Scope.READ: 0, Scope.COMMAND: 1, Scope.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    name: str
    scope: Scope
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.scope,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
)


def _token(row: Sequence[Any]) -> Token:
    return Token(row[0], row[1], Scope(row[2]), row[3], row[4])


class TokenStore:
    def __init__(self, state: StateDatabase):
        self.state = state

    def create(self, scope: Scope, name: str = "") -> tuple[str, Token]:
        """A new token; its secret is returned here once and never stored."""
        token = Token(secrets.token_hex(4), name, Scope(scope), time.time(), None)
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.state.write() as db:
            db.execute(
                insert(api_tokens).values(
                    id=token.id,
                    name=token.name,
                    scope=token.scope.value,
                    secret_sha256=_digest(secret),
                    created_at=token.created_at,
                )
            )
        return secret, token

    def list(self) -> list[Token]:
        with self.state.read() as db:
            rows = db.execute(select(*_COLUMNS).order_by(api_tokens.c.created_at)).all()
        return [_token(r) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """True if an active token with this id was revoked."""
        with self.state.write() as db:
            result = db.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return result.rowcount == 1

    def verify(self, secret: str) -> Token | None:
        """The active token with this secret, or None."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        with self.state.read() as db:
            row = db.execute(
                select(*_COLUMNS).where(
                    api_tokens.c.secret_sha256 == _digest(secret), api_tokens.c.revoked_at.is_(None)
                )
            ).first()
        return None if row is None else _token(row)
