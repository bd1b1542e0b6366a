"""Default secrets are refused outside development and tests; demo users per role."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from collaboration_api.auth.service import demo_plan, seed_demo_users
from regioncare.settings import Settings
from tests.api.conftest import INSTITUTIONS


def test_default_secrets_are_refused_in_production(tmp_path: Path) -> None:
    from collaboration_api.main import create_app

    prod = Settings(environment="production", home=tmp_path / "var",
                    mlflow_dir=tmp_path / "mlflow")
    with pytest.raises(ValueError, match="REGIONCARE_"):
        create_app(prod)
    strong = prod.model_copy(update={"secret_key": SecretStr("s" * 40),
                                     "pseudonym_key": SecretStr("p" * 40)})
    strong.check_secrets()
    fast = strong.model_copy(update={"password_hash_fast": True})
    from collaboration_api.auth.security import hash_password

    with pytest.raises(ValueError, match="tests only"):
        hash_password("x" * 12, fast)


def test_demo_users_cover_every_role_at_sensible_institutions(tmp_path: Path,
                                                              region_home: Path) -> None:
    plan = demo_plan(list(INSTITUTIONS))
    roles = {role for _, role, _ in plan}
    assert roles == {"clinician", "specialist", "scheduler", "radiologist", "teacher",
                     "supervisor", "data_scientist", "admin"}
    assert {inst for _, role, inst in plan if role == "clinician"} == {"R1-C1", "R1-C2"}
    assert {inst[3] for _, role, inst in plan if role == "scheduler"} == {"T"}
    settings = Settings(environment="test", home=region_home, mlflow_dir=tmp_path / "mlflow",
                        database_url=f"sqlite:///{tmp_path / 'seed.db'}",
                        password_hash_fast=True)
    first = seed_demo_users(settings)  # default: every institution with a record store
    again = seed_demo_users(settings)
    assert [a["username"] for a in first] == [a["username"] for a in again]
    assert all(set(a) == {"username", "password", "role", "institution"} for a in first)
    assert first[0]["password"] != again[0]["password"]  # reset on each run
