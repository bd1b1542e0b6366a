"""Database engine, sessions and migrations: SQLite by default, PostgreSQL by URL at scale.

The schema is owned by Alembic (``collaboration_api/migrations``); ``migrate`` brings any
database to the newest revision on start, including one written by the walking skeleton
(created with ``create_all`` and no version table), which is stamped first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SKELETON_REVISION = "0001_skeleton"


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every time the API stores is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime that always leaves the API with its UTC offset (SQLite drops it)."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers go on while one writer commits; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def import_models() -> None:
    """Every area's tables register on Base when its models module is imported."""
    from collaboration_api.auth import models as _auth  # noqa: F401
    from collaboration_api.consult import models as _consult  # noqa: F401
    from collaboration_api.directory import models as _directory  # noqa: F401
    from collaboration_api.imaging import models as _imaging  # noqa: F401
    from collaboration_api.internet_clinic import models as _internet_clinic  # noqa: F401
    from collaboration_api.joint_clinic import models as _joint_clinic  # noqa: F401
    from collaboration_api.notifications import models as _notifications  # noqa: F401
    from collaboration_api.referral import models as _referral  # noqa: F401
    from collaboration_api.schedule import models as _schedule  # noqa: F401
    from collaboration_api.supervision import models as _supervision  # noqa: F401
    from collaboration_api.teaching import models as _teaching  # noqa: F401
    from collaboration_api.telemedicine import models as _telemedicine  # noqa: F401
    from collaboration_api.workflow import models as _workflow  # noqa: F401


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> str | None:
    """Upgrade the database to the newest revision; returns that revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables and "referral" in tables:
            # A walking-skeleton database: its tables match the first revision.
            command.stamp(cfg, SKELETON_REVISION)
        command.upgrade(cfg, "head")
        return MigrationContext.configure(conn).get_current_revision()


def iter_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
