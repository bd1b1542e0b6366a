"""Shared fixtures: one tiny synthetic region and one ingest of it per test session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from features.ingest import IngestReport, ingest
from features.synth import generate
from regioncare.settings import Settings

SEED = 11
AS_OF = date(2026, 11, 1)


def make_settings(home: Path) -> Settings:
    return Settings(home=home, pseudonym_key="test-pseudonym-key", environment="test")


@pytest.fixture(scope="session")
def region(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("region") / "out"
    counts = generate(out, seed=SEED, scale="tiny", as_of=AS_OF)
    return out, counts


@pytest.fixture(scope="session")
def ingested(region, tmp_path_factory) -> tuple[Settings, IngestReport]:
    out, _ = region
    settings = make_settings(tmp_path_factory.mktemp("home"))
    report = ingest([out], settings=settings)
    return settings, report
