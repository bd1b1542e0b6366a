"""``CurrentUser``: the authenticated caller, with where the request came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from collaboration_api.auth.models import User
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.problems import Problem

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", refreshUrl="/auth/refresh",
                                     auto_error=False)


@dataclass(frozen=True)
class Caller:
    """The user making this request and the request's origin (for the audit trail)."""

    id: str
    username: str
    role: str
    institution_id: str
    practitioner_id: str | None
    ip: str | None = None
    method: str | None = None
    path: str | None = None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, settings: SettingsDep, db: DbSession,
                 token: Annotated[str | None, Depends(oauth2_scheme)]) -> Caller:
    from collaboration_api.auth.security import decode_token

    if not token:
        raise _unauthorized("a bearer token is required")
    try:
        claims = decode_token(settings, token)
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the token has expired; refresh it") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("the token is not valid") from None
    user = db.get(User, str(claims["sub"]))
    if user is None or not user.active:
        raise _unauthorized("the account is unknown or disabled")
    caller = Caller(id=user.id, username=user.username, role=user.role,
                    institution_id=user.institution_id, practitioner_id=user.practitioner_id,
                    ip=request.client.host if request.client else None,
                    method=request.method, path=request.url.path)
    request.state.caller = caller
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]
