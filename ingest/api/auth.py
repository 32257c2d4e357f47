"""Bearer tokens on every request: 401 without a valid one, 403 when its scope is too small, 429 when
it has spent its rate, or when its client has failed to authenticate too often (with Retry-After).

Failures are counted per client address and checked before the token is looked at: a client past its
limit gets 429 whatever it sends, so it cannot go on trying secrets; other clients are not affected.
Behind a reverse proxy every client has the proxy's address unless uvicorn is told to trust its
`X-Forwarded-For` (`--forwarded-allow-ips`).
"""

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


def _too_many(message: str, wait_s: float) -> HTTPException:
    return HTTPException(429, message, headers={"Retry-After": str(math.ceil(wait_s))})


def require(scope: Scope) -> Callable[..., Token]:
    """A dependency that admits tokens whose scope covers `scope`."""

    def check(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Token:
        failures: RateLimiter = request.app.state.auth_failures
        client = request.client.host if request.client else "unknown"
        if (wait := failures.wait(client)) > 0:
            raise _too_many("too many failed authentications from this address", wait)
        tokens: TokenStore = request.app.state.tokens
        token = None if credentials is None else tokens.verify(credentials.credentials)
        if token is None:
            failures.take(client)
            detail = "a bearer token is required" if credentials is None else "unknown or revoked token"
            raise HTTPException(401, detail, headers=_CHALLENGE)
        if not token.scope.covers(scope):
            raise HTTPException(403, f"this token has scope {token.scope}; this needs {scope}")
        limiter: RateLimiter = request.app.state.limiter
        if (wait := limiter.take(token.id)) > 0:
            raise _too_many("too many requests", wait)
        return token

    return check


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no token, or an unknown or revoked one"},
    403: {"description": "the token's scope is too small"},
    429: {
        "description": "this token's request rate is spent, or this client failed to authenticate "
        "too often: retry after `Retry-After` seconds"
    },
}
"""Answers every protected route may give, for the OpenAPI description."""

ReadToken = Depends(require(Scope.READ))
CommandToken = Depends(require(Scope.COMMAND))
AdminToken = Depends(require(Scope.ADMIN))
