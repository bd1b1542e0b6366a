"""Alembic owns the schema: a new database migrates to head on start, the models and the
migrations agree, a walking-skeleton database (create_all, no version table) upgrades
with its rows, and the migrations go down and up again. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from tests.api.conftest import (
    BACKENDS,
    Database,
    api_settings,
    make_database,
    patient_id,
    pseudonym,
)


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    db = make_database(request.param, tmp_path)
    try:
        yield db
    finally:
        if db.drop:
            db.drop()


def test_models_and_migrations_agree(fresh_db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from collaboration_api.db import Base, alembic_config, import_models, make_engine, migrate

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"the migrations must stay one linear chain: heads {heads}"
    engine = make_engine(fresh_db.url)
    try:
        assert migrate(engine) == heads[0]
        assert migrate(engine) == heads[0]  # a restart changes nothing
        import_models()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_skeleton_database_upgrades_with_its_rows(fresh_db: Database, region_home: Path
                                                  ) -> None:
    from alembic import command

    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.db import alembic_config, make_engine
    from collaboration_api.main import create_app

    engine = make_engine(fresh_db.url)
    cfg = alembic_config()
    with engine.begin() as conn:  # what the walking skeleton's create_all left behind
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_skeleton")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text(
            "INSERT INTO referral VALUES ('old-1', 'R1-C1', :pid, :ref, 'I10', 'routine', "
            "'from the skeleton', 'requested', 'awaiting-match', :t, :t)"),
            {"pid": patient_id("R1-C1", 1), "ref": pseudonym("R1-C1", 1),
             "t": "2026-11-01 00:00:00"})
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()

    settings = api_settings(region_home, fresh_db.url)
    accounts = seed_demo_users(settings, ["R1-C1", "R1-T1"])  # migrates, as `up` would
    clin = next(a for a in accounts if a["role"] == "clinician")
    with TestClient(create_app(settings)) as client:
        token = client.post("/auth/token", data={"username": clin["username"],
                                                 "password": clin["password"]}).json()
        r = client.get("/referrals/old-1",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["business_status"]) == ("draft",
                                                                     "awaiting-choice")
        assert r.json()["reason"] == "from the skeleton"


def test_migrations_go_down_and_up(fresh_db: Database) -> None:
    from alembic import command

    from collaboration_api.db import alembic_config, make_engine

    engine = make_engine(fresh_db.url)
    cfg = alembic_config()
    try:
        for target in ("head", "base", "head"):
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                (command.upgrade if target == "head" else command.downgrade)(cfg, target)
        assert "consult" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
