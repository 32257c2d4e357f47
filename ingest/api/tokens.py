"""API tokens: `<data_dir>/tokens.sqlite3`, only the SHA-256 of each secret is kept.

A secret is `sft_` + 32 random bytes (URL-safe base64), so a plain hash is enough: there is nothing
to guess that a slow hash would protect. Scopes nest: admin ⊇ command ⊇ read.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ingest.database import create_tables, transaction
from ingest.errors import ConfigError

DB_NAME = "tokens.sqlite3"
PREFIX = "sft_"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


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


class TokenStore:
    def __init__(self, data_dir: Path):
        self.path = data_dir / DB_NAME
        try:
            create_tables(self.path, _SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"cannot open the token store {self.path}: {e}") from e

    def create(self, scope: Scope, name: str = "") -> tuple[str, Token]:
        """A new token; its secret is returned here once and never stored."""
        token = Token(secrets.token_hex(4), name, Scope(scope), time.time(), None)
        secret = PREFIX + secrets.token_urlsafe(32)
        with transaction(self.path) as db:
            db.execute(
                "INSERT INTO api_tokens (id, name, scope, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (token.id, token.name, token.scope.value, _digest(secret), token.created_at),
            )
        return secret, token

    def list(self) -> list[Token]:
        with transaction(self.path) as db:
            rows = db.execute(
                "SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY created_at"
            ).fetchall()
        return [Token(r[0], r[1], Scope(r[2]), r[3], r[4]) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """True if an active token with this id was revoked."""
        with transaction(self.path) as db:
            cursor = db.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), token_id),
            )
        return cursor.rowcount == 1

    def verify(self, secret: str) -> Token | None:
        """The active token with this secret, or None."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        with transaction(self.path) as db:
            row = db.execute(
                "SELECT id, name, scope, created_at, revoked_at FROM api_tokens "
                "WHERE secret_sha256 = ? AND revoked_at IS NULL",
                (_digest(secret),),
            ).fetchone()
        return None if row is None else Token(row[0], row[1], Scope(row[2]), row[3], row[4])
