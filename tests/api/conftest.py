"""The API on a real database (SQLite and PostgreSQL) over a small hand-built region.

Every module gets its own database per backend and the demo users from
``seed_demo_users``. PostgreSQL comes from ``REGIONCARE_TEST_POSTGRES_URL`` (``make test``
exports it from ``scripts/services.sh``); without it the PostgreSQL cases are skipped,
except under CI=true, where they fail. No Ray here: only tests that ask for the session
``platform`` fixture need serving.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from regioncare.settings import Settings

POSTGRES_ENV = "REGIONCARE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]

# Institutions of the test region: code -> (tier, name)
INSTITUTIONS = {
    "R1-T1": (3, "Binjiang Central Hospital"),
    "R2-T1": (3, "Xishan Central Hospital"),
    "R1-S1": (2, "Binjiang No.1 People's Hospital"),
    "R1-C1": (1, "Chengnan Community Health Centre"),
    "R1-C2": (1, "Chengbei Community Health Centre"),
}
SPECIALTIES = ("cardiology", "endocrinology", "respiratory")


def practitioner_id(inst: str, i: int) -> str:
    return f"PR-{inst}-{i:02d}"


def patient_id(inst: str, i: int) -> str:
    return f"{inst}-P{i:04d}"


def pseudonym(inst: str, i: int) -> str:
    return "PX" + uuid.uuid5(uuid.NAMESPACE_OID, f"{inst}/{i}").hex[:16]


def build_region(records_dir: Path) -> None:
    """Record stores as ingest writes them: directory records everywhere, patients too."""
    from features.records import (
        Organization,
        Patient,
        Practitioner,
        PractitionerRole,
        RecordStore,
        Schedule,
        Slot,
    )

    for inst, (tier, name) in INSTITUTIONS.items():
        res: list[Any] = [Organization(id=inst, organization=inst, name=name, tier=tier,
                                       region=inst[:2], region_name_en="Binjiang")]
        for i in range(1, 4):
            pid = practitioner_id(inst, i)
            res += [
                Practitioner(id=pid, organization=inst, name=f"Dr {inst} {i}",
                             gender="female" if i % 2 else "male", title="attending",
                             experience_years=5 + i),
                PractitionerRole(id=f"role-{pid}", organization=inst, practitioner=pid,
                                 specialty=SPECIALTIES[(i - 1) % 3]),
                Schedule(id=f"sched-{pid}", organization=inst, practitioner=pid,
                         comment="weekday clinics"),
                Slot(id=f"slot-{pid}-1", organization=inst, schedule=f"sched-{pid}",
                     practitioner=pid, start="2026-12-01T01:00:00Z",
                     end="2026-12-01T01:30:00Z", status="free"),
            ]
        for i in range(1, 8):
            res.append(Patient(id=patient_id(inst, i), organization=inst, mrn=f"MRN{i}",
                               name=f"Patient {inst} {i}", gender="male",
                               birthDate="1960-01-01",
                               patient_id_regional=pseudonym(inst, i)))
        with RecordStore.for_institution(records_dir, inst) as store:
            store.upsert_many(res)


@pytest.fixture(scope="session")
def region_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("api-region") / "var"
    build_region(home / "records")
    return home


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: run `bash scripts/services.sh` "
                        "(make test does)")
        pytest.skip(f"{POSTGRES_ENV} not set (run scripts/services.sh)")
    return url


@dataclass
class Database:
    url: str
    drop: Any = None


def make_database(backend: str, tmp: Path) -> Database:
    if backend == "sqlite":
        return Database(f"sqlite:///{tmp / 'app.db'}")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(_postgres_url())
    name = f"rc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        from sqlalchemy.exc import DBAPIError

        # FORCE refuses to terminate an autovacuum worker for a non-superuser
        # (InsufficientPrivilege); a plain DROP signals such a worker itself and
        # waits for it, so fall back to that, a few times.
        statements = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'] + \
            [f'DROP DATABASE IF EXISTS "{name}"'] * 5
        try:
            for attempt, statement in enumerate(statements):
                try:
                    with admin.connect() as conn:
                        conn.execute(text(statement))
                    return
                except DBAPIError:
                    if attempt == len(statements) - 1:
                        raise
                    time.sleep(0.5)
        finally:
            admin.dispose()

    return Database(base.set(database=name).render_as_string(hide_password=False), drop)


@dataclass
class Api:
    client: TestClient
    settings: Settings
    accounts: dict[str, dict[str, str]]
    backend: str
    tokens: dict[str, str] = field(default_factory=dict)

    def user(self, role: str, institution: str) -> str:
        for name, acc in self.accounts.items():
            if acc["role"] == role and acc["institution"] == institution:
                return name
        raise KeyError(f"no {role} at {institution}")

    def headers(self, username: str | None, key: str | None = None) -> dict[str, str]:
        h: dict[str, str] = {}
        if username is not None:
            if username not in self.tokens:
                r = self.client.post("/auth/token", data={
                    "username": username, "password": self.accounts[username]["password"]})
                assert r.status_code == 200, r.text
                self.tokens[username] = r.json()["access_token"]
            h["Authorization"] = f"Bearer {self.tokens[username]}"
        if key:
            h["Idempotency-Key"] = key
        return h

    def get(self, path: str, as_: str | None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.headers(as_), **kw)

    def post(self, path: str, as_: str | None, json: Any = None, key: str | None = None,
             **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers=self.headers(as_, key), **kw)


def api_settings(home: Path, db_url: str, **overrides: Any) -> Settings:
    return Settings(environment="test", home=home, mlflow_dir=home.parent / "mlflow",
                    database_url=db_url, serve_port=9, password_hash_fast=True, **overrides)


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, region_home: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app

    db = make_database(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    settings = api_settings(region_home, db.url)
    try:
        accounts = {a["username"]: a for a in seed_demo_users(settings, list(INSTITUTIONS))}
        with TestClient(create_app(settings)) as client:
            yield Api(client, settings, accounts, request.param)
    finally:
        if db.drop:
            db.drop()
