"""Dependency aliases shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from regioncare.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request):  # type: ignore[no-untyped-def]
    with request.app.state.sessions() as session:
        # Services that push changes beyond the database (bookings to the feature store)
        # find the settings here instead of taking them through every signature.
        session.info["settings"] = request.app.state.settings
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbSession = Annotated[Session, Depends(get_db)]
