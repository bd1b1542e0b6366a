"""Feature drift of the champion referral model in supervision: the PSI function against
hand-computed values, and a seeded region whose recent window is shifted on purpose (PSI
above 0.2, a model.drift alert, the gauges on /metrics) while an unshifted window of the
same region, and a region without the shift, stay low. No Ray, no Feast: offline tables
written here and a champion registered in a fresh MLflow store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from regioncare.settings import Settings
from tests.api.conftest import api_settings

NOW = datetime.now(UTC).replace(microsecond=0)
TRAIN = (NOW - timedelta(days=400), NOW - timedelta(days=100))
STEADY = (NOW - timedelta(days=90), NOW - timedelta(days=50))  # after training, unshifted
RECENT = (NOW - timedelta(days=29), NOW - timedelta(hours=1))  # inside the default window
CHAPTERS = ("I", "E", "J", "N", "K", "M")


# -- the index against hand-computed values ---------------------------------------------------

def test_psi_matches_a_hand_computed_value() -> None:
    from collaboration_api.supervision.drift import (
        EPS,
        categorical_psi,
        numeric_psi,
        psi,
    )

    # Shares 0.5/0.5 against 0.25/0.75: (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5)
    by_hand = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert by_hand == pytest.approx(0.274653, abs=1e-6)
    assert psi([50, 50], [25, 75]) == pytest.approx(by_hand, abs=1e-12)
    assert psi([2, 2], [1, 3]) == pytest.approx(by_hand, abs=1e-12)  # counts or shares
    # Two bins cut at the training median 2.5: train 2|2, recent 1|3.
    value, bins = numeric_psi([1, 2, 3, 4], [1, 3, 4, 4], bins=2)
    assert (bins, value) == (2, pytest.approx(by_hand, abs=1e-12))
    value, bins = categorical_psi(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert (bins, value) == (2, pytest.approx(by_hand, abs=1e-12))
    # A category never seen in training: its share is floored at EPS, not zero.
    floored = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - EPS) * math.log(0.5 / EPS)
    assert categorical_psi(["a", "a"], ["a", "b"])[0] == pytest.approx(floored, abs=1e-12)
    # Missing values are a bin of their own; the same distribution is 0.
    assert numeric_psi([1, 2, np.nan, 4], [1, 2, np.nan, 4], bins=2)[0] == pytest.approx(0)
    assert numeric_psi(np.arange(100.0), np.arange(100.0))[0] == pytest.approx(0)


# -- a seeded region --------------------------------------------------------------------------

def _referrals(rng: np.random.Generator, window: tuple[datetime, datetime], n: int,
               shifted: bool, tag: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    start, end = (pd.Timestamp(t) for t in window)
    at = pd.to_datetime(np.sort(rng.uniform(start.value, end.value, n)).astype("int64"),
                        utc=True)
    pids = [f"PX{tag}{i:05d}" for i in range(n)]
    urgency = rng.choice(["routine", "urgent", "emergency"], n,
                         p=[0.3, 0.4, 0.3] if shifted else [0.7, 0.25, 0.05])
    refs = pd.DataFrame({"referral_id": [f"r_{tag}{i}" for i in range(n)],
                         "event_timestamp": at, "patient_id": pids,
                         "origin_tier": rng.choice([1, 2], n, p=[0.7, 0.3]),
                         "urgency": urgency,
                         "diagnosis_chapter": rng.choice(CHAPTERS, n)})
    age = rng.normal(75, 8, n) if shifted else rng.normal(52, 15, n)  # an older population
    patients = pd.DataFrame({
        "patient_id": pids, "event_timestamp": at - pd.Timedelta(days=1),
        "age_years": np.clip(age, 0, 90).astype("int64"),
        "n_chronic": rng.poisson(1.2, n), "comorbidity_index": rng.poisson(1.5, n),
        "prior_referrals": rng.poisson(0.5, n),
        "sex": rng.choice(["male", "female"], n),
        "home_region": rng.choice(["R1", "R2", "R3"], n, p=[0.5, 0.3, 0.2])})
    return refs, patients


def _practitioners(rng: np.random.Generator) -> pd.DataFrame:
    """The same 60 specialists (and 5 GPs, not candidates) at every monthly snapshot."""
    n = 65
    base = pd.DataFrame({
        "practitioner_id": [f"PR-{i:03d}" for i in range(n)],
        "specialty": ["general_practice"] * 5 + list(rng.choice(
            ["cardiology", "endocrinology", "respiratory", "nephrology"], n - 5)),
        "title_rank": rng.integers(1, 5, n), "experience_years": rng.integers(2, 35, n),
        "tier": rng.choice([2, 3], n), "n_languages": rng.integers(1, 3, n),
        "referrals_received_365d": rng.integers(0, 80, n),
        "acceptance_rate": rng.uniform(0.5, 0.95, n).round(4),
        "good_outcome_rate": rng.uniform(0.4, 0.9, n).round(4),
        "mean_wait_days": rng.uniform(2, 20, n).round(3),
        "weekly_capacity": rng.integers(5, 30, n).astype(float)})
    snaps = pd.date_range(pd.Timestamp(NOW - timedelta(days=420)).normalize(), NOW,
                          freq="MS", tz="UTC")
    return pd.concat([base.assign(event_timestamp=t) for t in snaps], ignore_index=True)


def write_region(offline: Path, *, shifted: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    parts = [_referrals(rng, TRAIN, 3000, False, "t"), _referrals(rng, STEADY, 600, False, "s"),
             _referrals(rng, RECENT, 600, shifted, "r")]
    offline.mkdir(parents=True, exist_ok=True)
    pd.concat([p[0] for p in parts], ignore_index=True).to_parquet(
        offline / "referrals.parquet", index=False)
    pd.concat([p[1] for p in parts], ignore_index=True).to_parquet(
        offline / "patients.parquet", index=False)
    _practitioners(rng).to_parquet(offline / "practitioners.parquet", index=False)


def register_champion(settings: Settings) -> str:
    """A champion version whose run logged its data window, as training.referral does."""
    import mlflow
    from mlflow import MlflowClient

    from training import registry

    exp = registry.experiment(settings, "referral-matching")
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params({"data_window": f"{pd.Timestamp(TRAIN[0])} .. "
                                          f"{pd.Timestamp(TRAIN[1])}",
                           "feature_service": "referral_matching_v1"})
    client = MlflowClient()
    name = settings.referral_model_name
    client.create_registered_model(name)
    mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                     run_id=run.info.run_id)
    client.set_registered_model_alias(name, registry.CHAMPION, mv.version)
    return str(mv.version)


@dataclass
class World:
    client: TestClient
    shifted: Settings
    steady: Settings
    bare: Settings
    version: str
    tokens: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app
    from collaboration_api.supervision import drift

    root = tmp_path_factory.mktemp("drift")
    shifted = api_settings(root / "shifted", f"sqlite:///{root / 'app.db'}")
    steady = api_settings(root / "steady", f"sqlite:///{root / 'steady.db'}")
    bare = api_settings(root / "bare" / "var", f"sqlite:///{root / 'bare.db'}")
    write_region(shifted.offline_dir, shifted=True, seed=5)
    write_region(steady.offline_dir, shifted=False, seed=5)
    write_region(bare.offline_dir, shifted=True, seed=5)  # data, but no registry
    version = register_champion(shifted)  # shifted and steady share root/mlflow
    drift.clear_cache()
    accounts = seed_demo_users(shifted, ["R1-T1", "R1-C1"])
    with TestClient(create_app(shifted)) as client:
        tokens = {}
        for acc in accounts:
            r = client.post("/auth/token", data={"username": acc["username"],
                                                 "password": acc["password"]})
            tokens[acc["role"]] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield World(client, shifted, steady, bare, version, tokens)
    drift.clear_cache()


def test_shifted_recent_window_drifts_and_alerts(world: World) -> None:
    sup = world.tokens["supervisor"]
    r = world.client.get("/supervision/drift", headers=sup)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == world.version
    assert body["feature_service"] == "referral_matching_v1"
    assert body["training_window"]["referrals"] == 3000
    assert body["recent_window"]["referrals"] == 600
    assert datetime.fromisoformat(body["training_window"]["start"]) == TRAIN[0]
    psi = {f["name"]: f["psi"] for f in body["features"]}
    assert psi["age_years"] > 1.0 and psi["urgency"] > 0.2  # what was shifted
    assert psi["sex"] < 0.1 and psi["diagnosis_chapter"] < 0.1  # what was not
    assert psi["weekly_capacity"] == pytest.approx(0.0, abs=1e-9)  # same specialists
    assert body["worst"] == {"name": "age_years", "psi": psi["age_years"]}
    assert body["threshold"] == 0.2 and body["alert"] is True

    alerts = world.client.get("/supervision/alerts", headers=sup).json()
    drifting = [a for a in alerts if a["kind"] == "model.drift"]
    assert len(drifting) == 1, alerts
    assert drifting[0]["subject_id"] == f"referral-ranker/{world.version}"
    assert drifting[0]["feature"] == "age_years" and drifting[0]["value"] > 0.2
    assert drifting[0]["institution_id"] is None  # the alliance's model: every scope sees it

    metrics = world.client.get("/metrics").text
    assert 'regioncare_sla_breaches{kind="model.drift"} 1.0' in metrics
    worst = [line for line in metrics.splitlines()
             if line.startswith("regioncare_feature_drift_worst_psi{")]
    assert worst and float(worst[0].split()[-1]) == pytest.approx(psi["age_years"])
    assert f'model_version="{world.version}"' in worst[0]


def test_unshifted_windows_stay_low(world: World) -> None:
    from collaboration_api.supervision import drift

    # The same region, a window after training that was not shifted.
    r = world.client.get("/supervision/drift", headers=world.tokens["supervisor"], params={
        "days": 40, "end": STEADY[1].isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["recent_window"]["referrals"] == 600
    assert body["worst"]["psi"] < 0.1 and body["alert"] is False, body["worst"]
    # A region whose recent window is not shifted: low everywhere, no alert.
    steady = drift.cached(world.steady)
    assert steady["worst"]["psi"] < 0.1 and steady["alert"] is False, steady["worst"]
    assert drift.alerts(world.steady) == []


def test_no_champion_or_no_data_is_a_problem(world: World) -> None:
    from collaboration_api.supervision import drift

    r = world.client.get("/supervision/drift", headers=world.tokens["supervisor"],
                         params={"end": (NOW - timedelta(days=500)).isoformat()})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "No data" and "0 referrals between" in r.json()["detail"]
    with pytest.raises(drift.DriftUnavailable, match="no model registry"):
        drift.cached(world.bare)
    assert drift.alerts(world.bare) == []  # and the SLA alerts carry on without it


def test_only_supervisors_see_drift(world: World) -> None:
    assert world.client.get("/supervision/drift",
                            headers=world.tokens["clinician"]).status_code == 403
    assert world.client.get("/supervision/drift",
                            headers=world.tokens["admin"]).status_code == 200
    assert world.client.get("/supervision/drift").status_code == 401
    assert world.client.get("/supervision/drift", headers=world.tokens["supervisor"],
                            params={"days": 0}).status_code == 422
