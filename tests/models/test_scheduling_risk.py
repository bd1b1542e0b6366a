"""The scheduling-risk model (issue 6): no-show risk and visit length, learned from the
synthetic region's appointment history through Feast, registered in MLflow; training is
reproducible and beats the baselines on held-out visits; the scheduler uses it, and falls
back to the old behaviour without it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from models.scheduling import (
    Location,
    Practitioner,
    Problem,
    Request,
    Slot,
    check,
    evaluate,
    exact,
    optimise,
)
from models.scheduling.risk import (
    NUMERIC,
    SchedulingRiskModel,
    encode,
    fit_spec,
    predict,
    slots_for,
)
from regioncare.settings import Settings

SEED = 11
AS_OF = date(2026, 11, 1)


# ----------------------------------------------------------------------------- pure parts
def test_encoding_and_prediction_shapes() -> None:
    rows = {"lead_days": [1.0, 20.0, None], "hour": [9, 15, 10], "weekday": [0, 3, None],
            "urgency": ["routine", "emergency", "urgent"],
            "specialty": ["cardiology", "oncology", None],
            "diagnosis_code": ["I21.4", "C34.9", None], "age_years": [70, 25, -1],
            "sex": ["male", "female", None], "distance_km": [3.0, None, 40.0]}
    spec = fit_spec(rows)
    enc = encode(spec, rows)
    assert enc.numeric.shape == (3, len(NUMERIC)) and enc.cats.shape == (3, 5)
    assert enc.cats[2, 1] == 0 and enc.cats[2, 2] == 0  # unknown specialty and chapter
    model = SchedulingRiskModel(n_numeric=len(NUMERIC), n_specialties=spec.sizes["specialties"],
                                n_chapters=spec.sizes["chapters"])
    p, minutes = predict(model, spec, rows)
    assert ((p > 0) & (p < 1)).all() and (minutes > 0).all()
    assert slots_for(np.array([10, 30, 31, 60, 95, 500])).tolist() == [1, 1, 2, 2, 4, 4]


NOW = datetime(2026, 11, 30, 8, 0)  # Monday


def _contested(risk_a: float, risk_b: float) -> Problem:
    """Two routine requests, one practitioner, one slot today and one in a week."""
    pr = Practitioner("P", "I1", "tertiary", frozenset({"cardiology"}),
                      location=Location(31.2, 121.4))
    slots = [Slot("early", "P", NOW + timedelta(hours=1)),
             Slot("late", "P", NOW + timedelta(days=7, hours=1))]
    reqs = [Request(id=rid, specialty="cardiology", modality="remote", urgency="routine",
                    created=NOW - timedelta(hours=2), no_show_risk=risk)
            for rid, risk in (("a", risk_a), ("b", risk_b))]
    return Problem(requests=reqs, practitioners=[pr], slots=slots, now=NOW)


def test_no_show_risk_books_the_risky_request_sooner_and_never_drops_it() -> None:
    for risky, calm in (("a", "b"), ("b", "a")):
        problem = _contested(0.6 if risky == "a" else 0.0, 0.6 if risky == "b" else 0.0)
        for plan in (optimise(problem, polish=False), exact(problem, time_limit_s=5)):
            assert check(plan, problem) == []
            start = {a.request_id: a.slot_ids[0] for a in plan.appointments}
            assert start == {risky: "early", calm: "late"}, plan.mode
    # without risk (no model) the objective is the one of before: the no-show term is 0
    base = _contested(0.0, 0.0)
    plan = optimise(base, polish=False)
    w0 = replace(base.weights, no_show=0.0)
    assert evaluate(plan, base)["objective"] == pytest.approx(
        evaluate(plan, replace(base, weights=w0))["objective"])


def test_batch_value_matches_the_reference_objective_with_risk() -> None:
    from benchmarks.scheduler_instances import generate

    problem = generate(120, 24, seed=3)
    rng = np.random.default_rng(0)
    problem = replace(problem, requests=[replace(r, no_show_risk=float(rng.uniform(0, 0.6)))
                                         for r in problem.requests])
    plan = optimise(problem, time_limit_s=4, polish=False)
    assert check(plan, problem) == []
    # the solver's own value (vectorised scoring) and the scalar reference agree
    value = plan.info["value_lp_rounded" if plan.status == "lp_rounded" else "value_greedy"]
    assert value == pytest.approx(evaluate(plan, problem)["objective"], abs=1e-3)
    assert evaluate(plan, problem)["objective"] <= plan.bound + 1e-6


# ----------------------------------------------------------------------------- trained
@pytest.fixture(scope="module")
def region_settings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A tiny region with its appointment history, ingested, Feast applied."""
    from features.ingest import ingest
    from features.store import apply
    from features.synth import generate
    from regioncare.runtime import prepare_environment

    root = tmp_path_factory.mktemp("sched-risk")
    region = root / "region"
    generate(region, seed=SEED, scale="tiny", as_of=AS_OF)
    settings = Settings(environment="test", home=root / "var", mlflow_dir=root / "mlflow",
                        pseudonym_key="risk-test-key")
    prepare_environment(settings)
    ingest([region], settings=settings)
    apply(settings)
    return settings, region / "ground_truth"


@pytest.fixture(scope="module")
def trained(region_settings):  # type: ignore[no-untyped-def]
    from training.scheduling import TrainConfig, train_scheduling

    settings, truth = region_settings
    config = TrainConfig(seed=7, epochs=20, bootstrap=50)
    first = train_scheduling(settings, config, truth_dir=truth)
    second = train_scheduling(settings, config, truth_dir=truth)
    return settings, first, second


def test_training_twice_with_one_seed_gives_identical_metrics(trained) -> None:  # type: ignore[no-untyped-def]
    _settings, first, second = trained
    for key in ("model", "baselines", "oracle", "test_rows", "train_rows"):
        assert first.metrics[key] == second.metrics[key], key
    # both registered; the second is no better, so the champion alias stays on the first
    assert (first.model_version, second.model_version) == ("1", "2")
    assert first.champion == second.champion == "1"
    assert second.metrics["champion"]["noshow_auc"] == first.metrics["model"]["noshow_auc"]


def test_the_model_beats_the_baselines_on_held_out_visits(trained) -> None:  # type: ignore[no-untyped-def]
    _settings, result, _ = trained
    m, b = result.metrics["model"], result.metrics["baselines"]
    print({"model": m, "baselines": b, "oracle": result.metrics["oracle"]})
    assert result.metrics["test_rows"] > 300
    # no-show: ranks risky visits (the base rate cannot: AUC 0.5) and is better calibrated
    assert m["noshow_auc"] >= b["base_rate"]["noshow_auc"] + 0.1
    assert m["noshow_auc_ci95"][0] > 0.5
    assert m["noshow_logloss"] < b["base_rate"]["noshow_logloss"]
    # length: lower absolute error than the median, and than the median per specialty
    assert m["duration_mae_min"] < 0.85 * b["median"]["duration_mae_min"]
    assert m["duration_mae_min"] < b["specialty_median"]["duration_mae_min"]
    # and not better than the hidden truth (a sanity check of the evaluation)
    assert m["noshow_auc"] <= result.metrics["oracle"]["noshow_auc"] + 0.03


def test_scheduler_uses_the_champion_and_falls_back_without_it(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from serving.scheduler import SchedulerPredictor
    from serving.schemas import ReplanRequest

    settings, _, _ = trained
    appts = pd.read_parquet(settings.offline_dir / "appointments.parquet")
    pids = appts["patient_id"].drop_duplicates().head(6).tolist()
    now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    body = ReplanRequest.model_validate({
        "now": now.isoformat(),
        "practitioners": [{"id": f"PR-{i}", "institution_id": "R1-T1",
                           "specialties": ["oncology"], "lat": 31.23, "lon": 121.47}
                          for i in range(3)],
        "slots": [{"id": f"S{i}-{k}", "practitioner_id": f"PR-{i}",
                   "start": (now + timedelta(hours=1, minutes=30 * k)).isoformat()}
                  for i in range(3) for k in range(16)],
        "requests": [{"id": f"R{j}", "specialty": "oncology", "urgency": "routine",
                      "created": (now - timedelta(days=1)).isoformat(), "patient_id": pid,
                      "diagnosis_code": "C34.9"} for j, pid in enumerate(pids)]})
    with_model = SchedulerPredictor(settings).replan(body)
    assert with_model.model_version == "1" and not with_model.degraded
    assert {e.source for e in with_model.estimates} == {"model"}
    assert all(0 < (e.no_show_risk or 0) < 1 for e in with_model.estimates)
    assert with_model.violations == 0 and len(with_model.suggestions) == len(pids)
    for s in with_model.suggestions:  # the learned length sizes the booking
        est = next(e for e in with_model.estimates if e.request_id == s.request_id)
        assert s.minutes == 30 * est.duration_slots

    off = SchedulerPredictor(replace_settings(settings, scheduling_use_risk_model=False))
    plain = off.replan(body)
    assert not plain.degraded and {e.duration_slots for e in plain.estimates} == {1}
    empty = SchedulerPredictor(replace_settings(settings, mlflow_dir=tmp_path / "none"))
    fallback = empty.replan(body)
    assert fallback.degraded and fallback.model_version is None
    assert {(e.duration_slots, e.source) for e in fallback.estimates} == {(1, "default")}


def replace_settings(settings: Settings, **kw: object) -> Settings:
    return Settings(**{**settings.model_dump(), **kw})
