"""Feature-store fixtures: one ingest of the session's tiny region, then one Feast repo per
online store (SQLite always; Redis when ``REGIONCARE_TEST_REDIS_URL`` names one).

Without Redis the Redis cases skip, except with ``CI=true``, where they fail: CI must run
them (``make test`` starts Redis with scripts/redis.sh and exports the URL).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regioncare.settings import Settings

REDIS_ENV = "REGIONCARE_TEST_REDIS_URL"


def redis_url_or_skip() -> str:
    """The test Redis, answering; otherwise skip (fail with CI=true)."""
    url = os.environ.get(REDIS_ENV, "").strip()
    problem = None
    if not url:
        problem = f"{REDIS_ENV} is not set (start one: bash scripts/redis.sh)"
    else:
        import redis

        full = url if "://" in url else f"redis://{url}"
        try:
            redis.Redis.from_url(full, socket_connect_timeout=2).ping()
        except Exception as exc:
            problem = f"Redis at {url} does not answer: {exc}"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI=true requires the Redis online-store tests")
        pytest.skip(problem)
    return url


@pytest.fixture(scope="session")
def offline_tables(tiny_region: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The de-identified parquet tables of the tiny region, ingested once."""
    from features.ingest import ingest

    settings = Settings(environment="test", home=tmp_path_factory.mktemp("fs-base") / "var")
    settings.ensure_dirs()
    ingest([tiny_region], settings=settings)
    return settings.offline_dir


def fresh_settings(offline: Path, root: Path, **overrides: Any) -> Settings:
    """Settings whose Feast repo holds a private copy of the offline tables."""
    settings = Settings(environment="test", home=root / "var", mlflow_dir=root / "mlflow",
                        **overrides)
    shutil.copytree(offline, settings.offline_dir)
    return settings


@dataclass
class Online:
    kind: str
    settings: Settings
    store: Any


def _build(kind: str, offline: Path, root: Path) -> Online:
    from features.store import apply, materialize, open_store

    overrides: dict[str, Any] = {"online_store": kind}
    if kind == "redis":
        overrides["redis_url"] = redis_url_or_skip()
        overrides["feast_project"] = f"rc_test_{uuid.uuid4().hex[:8]}"
    settings = fresh_settings(offline, root, **overrides)
    apply(settings)
    materialize(settings)
    return Online(kind, settings, open_store(settings))


@pytest.fixture(scope="session")
def sqlite_online(offline_tables: Path, tmp_path_factory: pytest.TempPathFactory) -> Online:
    """The embedded default: applied and materialised into SQLite (tests restore what
    they push)."""
    return _build("sqlite", offline_tables, tmp_path_factory.mktemp("fs-sqlite"))


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, offline_tables: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Online]:
    """The same repo in SQLite or in Redis (a Feast project of its own in a shared server)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_online")
        return
    built = _build("redis", offline_tables, tmp_path_factory.mktemp("fs-redis"))
    try:
        yield built
    finally:
        built.store.teardown()  # removes this project's keys from the shared server
