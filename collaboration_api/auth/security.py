"""Password hashing (argon2id) and JWTs (HS256, signed with settings.secret_key)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from regioncare.settings import Settings

ALGORITHM = "HS256"
_hasher = PasswordHasher()
# Verifying against this keeps an unknown user as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")


_fast_hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def hash_password(password: str, settings: Settings | None = None) -> str:
    """argon2id with RFC 9106's low-memory profile; tests may ask for cheap parameters
    (the hash records its parameters, so verification needs no setting)."""
    if settings is not None and settings.password_hash_fast:
        if settings.environment != "test":
            raise ValueError("REGIONCARE_PASSWORD_HASH_FAST is for tests only")
        return _fast_hasher.hash(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _key(settings: Settings) -> bytes:
    # HS256 wants a 256-bit key: derive one from the configured secret of any length.
    return hashlib.sha256(b"regioncare-jwt|" + settings.secret_key.get_secret_value().encode()
                          ).digest()


def issue_token(settings: Settings, *, user_id: str, role: str, institution_id: str,
                kind: str = "access") -> tuple[str, int]:
    """A signed token and its lifetime in seconds; kind is access or refresh."""
    now = datetime.now(UTC)
    lifetime = (timedelta(minutes=settings.access_token_minutes) if kind == "access"
                else timedelta(hours=settings.refresh_token_hours))
    claims = {"sub": user_id, "role": role, "inst": institution_id, "typ": kind,
              "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    token = jwt.encode(claims, _key(settings), algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def decode_token(settings: Settings, token: str, *, kind: str = "access") -> dict[str, Any]:
    """Claims of a valid token of that kind; raises jwt.InvalidTokenError otherwise."""
    claims = jwt.decode(token, _key(settings), algorithms=[ALGORITHM],
                        options={"require": ["sub", "exp", "typ"]})
    if claims.get("typ") != kind:
        raise jwt.InvalidTokenError(f"not an {kind} token")
    return claims


def subject_of(settings: Settings, authorization: str | None) -> str | None:
    """The user id behind an ``Authorization: Bearer`` header, or None if it is not valid."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    try:
        return str(decode_token(settings, authorization[7:].strip())["sub"])
    except jwt.InvalidTokenError:
        return None
