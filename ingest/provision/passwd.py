"""Broker passwords: generation and Mosquitto's password-file format.

Mosquitto 2.0 stores `user:$7$<iterations>$<base64 salt>$<base64 hash>` where the hash is
PBKDF2-HMAC-SHA512 over the password with a 12-byte salt and 101 iterations; `mosquitto_passwd`
writes exactly that, and the broker accepts any iteration count written in the line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from ingest.errors import DeviceError

ITERATIONS = 101
SALT_BYTES = 12
_PASSWORD_BYTES = 24


def generate_password() -> str:
    """A random password that needs no quoting in a URL, JSON or a shell."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The `$7$...` hash Mosquitto 2.0 writes for `password`."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches a `$7$` hash (ours or mosquitto_passwd's)."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def password_file(entries: Iterable[tuple[str, str]]) -> str:
    """Password-file text from (username, `$7$` hash) pairs, one `user:hash` line each."""
    lines = []
    for username, hashed in entries:
        if ":" in username or "\n" in username or not hashed.startswith("$7$"):
            raise DeviceError(f"cannot write a password-file line for {username!r}")
        lines.append(f"{username}:{hashed}\n")
    return "".join(lines)
