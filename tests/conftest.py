"""Shared fixtures: one tiny region and one running platform per test session.

The platform fixture runs the real stack (Feast, MLflow, Lightning, Ray Serve); it is
started once and shared, because Ray alone takes ~15 s to start on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from regioncare.settings import Settings
from serving.app import free_port

SEED = 11


def make_settings(root: Path, **overrides: object) -> Settings:
    # Serving's 25 ms deadline on the patient's online row trades a rule answer for a bound
    # on latency; on a busy 2-core test machine a pause of that length is common, and these
    # tests are about what is answered, not how fast. The deadline itself is tested in
    # tests/serving/test_store_breaker.py, and its latency in `regioncare bench recommend`.
    overrides = {"online_lookup_timeout_ms": 1000.0, **overrides}
    return Settings(environment="test", home=root / "var", mlflow_dir=root / "mlflow",
                    serve_port=free_port(), **overrides)


@pytest.fixture(scope="session")
def tiny_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.synth import generate

    out = tmp_path_factory.mktemp("region") / "tiny"
    generate(out, seed=SEED, scale="tiny", as_of=datetime.now(UTC).date())
    return out


@dataclass
class Platform:
    settings: Settings
    region: Path
    train: dict


@pytest.fixture(scope="session")
def platform(tiny_region: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Ingest -> Feast apply/materialise -> train + register -> Ray Serve, all real."""
    from features.ingest import ingest
    from features.store import apply, materialize
    from regioncare.runtime import prepare_environment
    from serving import app as serving_app
    from training.referral import TrainConfig, train_referral

    settings = make_settings(tmp_path_factory.mktemp("platform"))
    prepare_environment(settings)
    ingest([tiny_region], settings=settings)
    apply(settings)
    materialize(settings)
    result = train_referral(settings, TrainConfig(epochs=4),
                            truth_dir=tiny_region / "ground_truth")
    serving_app.start(settings)
    try:
        yield Platform(settings, tiny_region, result.to_json())
    finally:
        serving_app.stop()
