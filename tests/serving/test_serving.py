"""Serving on the real Ray Serve deployment: alias moves, plain predictor, degradation."""

from __future__ import annotations

import time

import httpx
import pytest

from benchmarks.recommend import register_copy_of_champion
from models.referral.explain import words
from serving.predictor import ReferralPredictor, seen_practitioners
from serving.schemas import RecommendRequest
from training import registry

pytestmark = pytest.mark.e2e


def _body(platform) -> dict:  # type: ignore[no-untyped-def]
    import pandas as pd

    ref = pd.read_parquet(platform.settings.offline_dir / "referrals.parquet").iloc[0]
    return {"patient_id": ref.patient_id, "diagnosis_code": ref.diagnosis_code,
            "urgency": "urgent", "origin_tier": int(ref.origin_tier)}


def test_alias_moves_reach_serving_without_failed_requests(platform) -> None:  # type: ignore[no-untyped-def]
    settings = platform.settings
    url = f"{settings.serve_url}/recommend"
    body = _body(platform)
    first = registry.champion_version(settings, settings.referral_model_name)
    second = register_copy_of_champion(settings)[1]
    seen: list[str | None] = []
    store_pauses: list[str] = []  # answers the rule gave while one store lookup overran
    failures = 0

    def drive_until(version: str, limit_s: float = 20.0) -> float:
        nonlocal failures
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            resp = httpx.post(url, json=body, timeout=10)
            if resp.status_code != 200:
                failures += 1
                continue
            answer = resp.json()
            if answer["degraded"]:
                # A busy machine may overrun one store lookup's deadline; that answer is the
                # rule's. A swap must never be the cause: no answer without a model.
                assert answer["degraded_reason"].startswith("online store"), answer
                store_pauses.append(answer["degraded_reason"])
            else:
                seen.append(answer["model_version"])
                if seen[-1] == version:
                    return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"serving still answers {seen[-1]!r}, not {version}")

    try:
        registry.promote(settings, settings.referral_model_name, second)
        promoted_after = drive_until(second)
        registry.rollback(settings, settings.referral_model_name)
        rolled_back_after = drive_until(first)  # type: ignore[arg-type]
    finally:
        registry.promote(settings, settings.referral_model_name, first)  # type: ignore[arg-type]
        drive_until(first)  # type: ignore[arg-type]
    assert failures == 0
    assert promoted_after <= 10 and rolled_back_after <= 10
    assert set(seen) <= {first, second}
    assert len(store_pauses) <= len(seen) // 20, store_pauses


def test_plain_predictor_degrades_to_the_rule_without_a_feature_store(platform) -> None:  # type: ignore[no-untyped-def]
    predictor = ReferralPredictor(platform.settings)
    req = RecommendRequest(**_body(platform))
    normal = predictor.recommend(req)
    assert not normal.degraded and normal.model_version

    predictor.store = None  # the online store went away
    predictor.store_error = "online store unavailable: connection refused"
    degraded = predictor.recommend(req)
    assert degraded.degraded and degraded.model_version is None
    assert len(degraded.items) == req.k
    assert all(i.reasons[0].startswith("rule:") for i in degraded.items)
    # each reason also as a code and its values, worded the same (the console words it in
    # its user's language)
    for out in (normal, degraded):
        assert all([words(p.code, p.values) for p in i.reason_codes] == i.reasons
                   for i in out.items)
    assert {i.reason_codes[0].code for i in degraded.items} == {"rule_specialty"}


def test_travel_limit_leaves_out_farther_specialists(platform) -> None:  # type: ignore[no-untyped-def]
    """The patient's travel limit keeps the ranking of those within it, on the model's path
    and on the rule's, and says how many it left out."""
    predictor = ReferralPredictor(platform.settings)
    body = {**_body(platform), "k": 100}
    free = predictor.recommend(RecommendRequest(**body))
    limit = sorted(i.distance_km for i in free.items)[len(free.items) // 2] + 0.05
    kept = predictor.recommend(RecommendRequest(**body, max_travel_km=limit))
    assert not kept.degraded and kept.items
    assert all(i.distance_km <= limit for i in kept.items)
    near = [i.practitioner_id for i in free.items if i.distance_km <= limit]
    assert [i.practitioner_id for i in kept.items][:len(near)] == near  # same order
    assert "farther than" in kept.notes[0] and not free.notes
    assert [n.code for n in kept.note_codes] == ["travel_left_out"]
    values = kept.note_codes[0].values
    assert values["candidates"] == len(predictor.candidates)
    assert kept.notes[0].startswith(f"{values['left_out']} of {values['candidates']} ")
    none = predictor.recommend(RecommendRequest(**body, max_travel_km=0.001))
    assert none.items == [] and f"{len(predictor.candidates)} of " in none.notes[0]

    predictor.store = None  # degraded: no patient row, so no home region to measure from
    predictor.store_error = "online store unavailable"
    rule = predictor.recommend(RecommendRequest(**body, max_travel_km=limit))
    assert rule.degraded and len(rule.items) == 100
    assert "not applied" in rule.notes[0]
    assert [n.code for n in rule.note_codes] == ["travel_not_applied"]


def test_challenger_is_scored_in_shadow(platform) -> None:  # type: ignore[no-untyped-def]
    """A challenger that is not the champion ranks every request beside it, unseen; the
    champion's answer is the same with or without it."""
    import mlflow

    settings = platform.settings
    name = settings.referral_model_name
    champion, copy = register_copy_of_champion(settings)
    earlier = registry.alias_version(settings, name, registry.CHALLENGER)
    req = RecommendRequest(**_body(platform))
    client = mlflow.MlflowClient()
    try:
        client.set_registered_model_alias(name, registry.CHALLENGER, champion)
        before = ReferralPredictor(settings).recommend(req)
        assert before.shadow is None  # a challenger that is the champion: nothing to compare
        client.set_registered_model_alias(name, registry.CHALLENGER, copy)
        predictor = ReferralPredictor(settings)
        out = predictor.recommend(req)
        assert out.model_version == champion and out.items == before.items
        assert out.shadow is not None and out.shadow.model_version == copy
        # the copy has the champion's weights: the same ranking
        assert out.shadow.practitioner_ids == [i.practitioner_id for i in out.items]
        off = ReferralPredictor(settings.model_copy(update={"shadow_scoring": False}))
        assert off.recommend(req).shadow is None
        client.set_registered_model_alias(name, registry.CHALLENGER, champion)
        predictor._load_model()
        assert predictor.recommend(req).shadow is None
    finally:  # other tests' aliases as they were
        client.set_registered_model_alias(name, registry.CHALLENGER, earlier or champion)


def test_a_promoted_challenger_and_a_rollback_swap_without_a_load(platform) -> None:  # type: ignore[no-untyped-def]
    """The challenger scored in shadow and the champion before a promotion stay loaded: the
    alias moves of the usual path (train, promote, roll back) swap models already in memory."""
    import mlflow

    settings = platform.settings
    name = settings.referral_model_name
    champion, copy = register_copy_of_champion(settings)
    earlier = registry.alias_version(settings, name, registry.CHALLENGER)
    client = mlflow.MlflowClient()
    try:
        client.set_registered_model_alias(name, registry.CHALLENGER, copy)
        predictor = ReferralPredictor(settings)
        served, shadow = predictor.bundle, predictor.shadow_bundle
        assert shadow is not None and shadow is not served
        registry.promote(settings, name, copy)
        predictor._load_model()
        assert predictor.version == copy and predictor.bundle is shadow
        registry.rollback(settings, name)
        predictor._load_model()
        assert predictor.version == champion and predictor.bundle is served
        client.set_registered_model_alias(name, registry.CHALLENGER, champion)
        predictor._load_model()  # the copy is still the previous champion: kept
        assert set(predictor._kept) == {champion, copy}
    finally:  # other tests' aliases as they were
        registry.promote(settings, name, champion)
        client.set_registered_model_alias(name, registry.CHALLENGER, earlier or champion)


def test_continuity_from_the_records_is_read_online(platform) -> None:  # type: ignore[no-untyped-def]
    """The specialists who took a patient on in the hospitals' own records reach the
    ranker's continuity feature at serving time, after the platform's own ones."""
    import pandas as pd

    c = pd.read_parquet(platform.settings.offline_dir / "continuity.parquet")
    row = c.sort_values("event_timestamp").groupby("patient_id").tail(1).iloc[0]
    predictor = ReferralPredictor(platform.settings)
    online = predictor._patient_row(row.patient_id)
    assert online["seen_practitioners"] == row.seen_practitioners
    recorded = row.seen_practitioners.split("|")
    req = RecommendRequest(patient_id=row.patient_id, diagnosis_code="I21.4",
                           seen_practitioners=["PR-platform", recorded[0]])
    assert seen_practitioners(req, online) == ["PR-platform", *recorded]
    assert seen_practitioners(req, {}) == ["PR-platform", recorded[0]]
    assert not predictor.recommend(req).degraded


def test_serve_metrics_and_health(platform) -> None:  # type: ignore[no-untyped-def]
    base = f"{platform.settings.serve_url}/recommend"
    httpx.post(base, json=_body(platform), timeout=10)
    health = httpx.get(f"{base}/health", timeout=10).json()
    assert health["model_version"] and health["candidates"] > 0
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert "regioncare_recommend_seconds_bucket" in metrics
