"""Bearer tokens on every request: 401 without a valid one, 403 when its scope is too small, 429 when
it has spent its rate (with Retry-After)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingest.api.ratelimit import RateLimiter
from ingest.api.tokens import Scope, Token, TokenStore

_bearer = HTTPBearer(auto_error=False, description="a token from `sensorfleet token create`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(scope: Scope) -> Callable[..., Token]:
    """A dependency that admits tokens whose scope covers `scope`."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Token:
        if credentials is None:
            raise HTTPException(401, "a bearer token is required", headers=_CHALLENGE)
        tokens: TokenStore = request.app.state.tokens
        token = tokens.verify(credentials.credentials)
        if token is None:
            raise HTTPException(401, "unknown or revoked token", headers=_CHALLENGE)
        if not token.scope.covers(scope):
            raise HTTPException(403, f"this token has scope {token.scope}; this needs {scope}")
        limiter: RateLimiter = request.app.state.limiter
        wait = limiter.take(token.id)
        if wait > 0:
            raise HTTPException(429, "too many requests", headers={"Retry-After": str(math.ceil(wait))})
        return token

    return check


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no token, or an unknown or revoked one"},
    403: {"description": "the token's scope is too small"},
    429: {"description": "this token's request rate is spent: retry after `Retry-After` seconds"},
}
"""Answers every protected route may give, for the OpenAPI description."""

ReadToken = Depends(require(Scope.READ))
CommandToken = Depends(require(Scope.COMMAND))
