"""Accounts: authentication, tokens, users, and the demo users of the embedded default."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.auth.models import User
from collaboration_api.auth.schemas import Token, UserCreate
from collaboration_api.auth.security import (
    decode_token,
    hash_password,
    issue_token,
    verify_password,
)
from collaboration_api.problems import Problem
from regioncare.settings import Settings


def tokens_for(settings: Settings, user: User) -> Token:
    access, lifetime = issue_token(settings, user_id=user.id, role=user.role,
                                   institution_id=user.institution_id)
    refresh, _ = issue_token(settings, user_id=user.id, role=user.role,
                             institution_id=user.institution_id, kind="refresh")
    return Token(access_token=access, expires_in=lifetime, refresh_token=refresh)


def login(*, db: Session, settings: Settings, username: str, password: str) -> Token:
    user = db.scalars(select(User).where(User.username == username)).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise Problem(401, "Unauthorized", "wrong username or password",
                      headers={"WWW-Authenticate": "Bearer"})
    return tokens_for(settings, user)


def refresh(*, db: Session, settings: Settings, refresh_token: str) -> Token:
    try:
        claims = decode_token(settings, refresh_token, kind="refresh")
    except jwt.InvalidTokenError:
        raise Problem(401, "Unauthorized", "the refresh token is not valid",
                      headers={"WWW-Authenticate": "Bearer"}) from None
    user = db.get(User, str(claims["sub"]))
    if user is None or not user.active:
        raise Problem(401, "Unauthorized", "the account is unknown or disabled")
    return tokens_for(settings, user)


def create_user(*, db: Session, settings: Settings, data: UserCreate) -> User:
    user = User(id=str(uuid.uuid4()), username=data.username,
                password_hash=hash_password(data.password, settings), role=data.role,
                institution_id=data.institution_id, practitioner_id=data.practitioner_id,
                display_name=data.display_name or data.username)
    db.add(user)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Problem(409, "Username taken", f"{data.username!r} exists") from None
    return user


def upsert_user(db: Session, *, username: str, password: str, role: str, institution_id: str,
                practitioner_id: str | None = None, display_name: str = "",
                settings: Settings | None = None) -> User:
    """Create the user, or reset its password, role and institution (used for seeding)."""
    user = db.scalars(select(User).where(User.username == username)).first()
    if user is None:
        user = User(id=str(uuid.uuid4()), username=username)
        db.add(user)
    user.password_hash = hash_password(password, settings)
    user.role, user.institution_id = role, institution_id
    user.practitioner_id = practitioner_id
    user.display_name = display_name or username
    user.active = True
    db.flush()
    return user


def _codes(institutions: Iterable[Any]) -> list[str]:
    out = []
    for inst in institutions:
        if isinstance(inst, str):
            out.append(inst)
        elif isinstance(inst, dict):
            out.append(str(inst.get("institution") or inst.get("id") or inst.get("code")))
        else:
            out.append(str(getattr(inst, "institution", None) or inst.id))
    return sorted(dict.fromkeys(out))


def demo_plan(institutions: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(username, role, institution) for each demo user: clinicians in the community,
    specialists and schedulers in tertiary hospitals, the rest at the first tertiary."""
    from collaboration_api.directory.service import institution_tier

    codes = _codes(institutions)
    if not codes:
        raise ValueError("no institutions to seed demo users into")
    by_tier = {t: [c for c in codes if institution_tier(c) == t] for t in (1, 2, 3)}
    tertiary = by_tier[3] or by_tier[2] or codes
    community = by_tier[1] or codes
    secondary = by_tier[2]
    plan: list[tuple[str, str]] = []
    plan += [("clinician", c) for c in community[:2]]
    plan += [("specialist", t) for t in tertiary[:2]]
    plan += [("specialist", s) for s in secondary[:1]]
    plan += [("scheduler", t) for t in tertiary[:2]]
    plan += [(role, tertiary[0]) for role in ("radiologist", "teacher", "supervisor",
                                              "data_scientist", "admin")]
    return [(f"{role.replace('_', '-')}-{inst.lower()}", role, inst) for role, inst in plan]


def _first_practitioner(settings: Settings, institution_id: str) -> str | None:
    from collaboration_api.directory import service as directory

    return directory.first_practitioner(settings, institution_id)


def seed_demo_users(settings: Settings, institutions: Iterable[Any] | None = None
                    ) -> list[dict[str, str]]:
    """Create (or reset) one demo user per role at sensible institutions and return
    ``[{username, password, role, institution}]`` for ``var/demo-accounts.json``.

    ``institutions`` are institution codes (or dicts with ``institution``/``id``); by
    default, every institution that has a record store. Passwords are new on each call.
    Migrates the app database first, so it can run before the API starts.
    """
    from collaboration_api.db import make_engine, migrate, session_factory
    from collaboration_api.directory import service as directory

    codes = _codes(institutions) if institutions is not None else directory.institutions(
        settings)
    engine = make_engine(settings.app_db_url)
    try:
        migrate(engine)
        accounts = []
        with session_factory(engine)() as db:
            for username, role, inst in demo_plan(codes):
                password = secrets.token_urlsafe(12)
                practitioner = (_first_practitioner(settings, inst)
                                if role in ("specialist", "clinician") else None)
                upsert_user(db, username=username, password=password, role=role,
                            institution_id=inst, practitioner_id=practitioner,
                            settings=settings)
                accounts.append({"username": username, "password": password, "role": role,
                                 "institution": inst})
            db.commit()
        return accounts
    finally:
        engine.dispose()
