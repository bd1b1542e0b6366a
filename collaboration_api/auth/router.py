"""/auth: OAuth2 password flow, refresh, who am I, and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from collaboration_api.auth import service
from collaboration_api.auth.deps import CurrentUser
from collaboration_api.auth.models import User
from collaboration_api.auth.schemas import RefreshRequest, Token, UserCreate, UserRead
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.problems import Problem, responses

router = APIRouter(prefix="/auth", tags=["auth"], responses=responses(401))


@router.post("/token", response_model=Token)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], db: DbSession,
          settings: SettingsDep) -> Token:
    """OAuth2 password flow: a short-lived access token and a refresh token."""
    return service.login(db=db, settings=settings, username=form.username,
                         password=form.password)


@router.post("/refresh", response_model=Token)
def refresh(data: RefreshRequest, db: DbSession, settings: SettingsDep) -> Token:
    """A new token pair for a valid refresh token."""
    return service.refresh(db=db, settings=settings, refresh_token=data.refresh_token)


@router.get("/me", response_model=UserRead)
def me(caller: CurrentUser, db: DbSession) -> UserRead:
    return UserRead.model_validate(db.get(User, caller.id))


@router.post("/users", response_model=UserRead, status_code=201,
             responses=responses(403))
def create_user(data: UserCreate, caller: CurrentUser, db: DbSession,
                settings: SettingsDep) -> UserRead:
    """Admins create accounts (at any institution of the alliance)."""
    if not caller.has_role("admin"):
        raise Problem(403, "Forbidden", "only an admin creates accounts")
    return UserRead.model_validate(service.create_user(db=db, settings=settings, data=data))
