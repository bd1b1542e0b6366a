"""The SpecialistScheduler deployment: a thin wrapper over the plain SchedulerPredictor.

The first tests run the real deployment class in Serve's local testing mode (no Ray
cluster: seconds, not a minute); the last one reaches it over HTTP on the shared platform,
beside the recommender.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from regioncare.settings import Settings
from serving.scheduler import SchedulerPredictor
from serving.schemas import ReplanRequest, SuggestRequest

NOW = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday 08:00 in Asia/Shanghai


def payload(n_requests: int = 3) -> dict:
    pracs = [{"id": f"PR-{i}", "institution_id": "R1-T1", "tier": "tertiary",
              "specialties": ["cardiology"], "lat": 31.2, "lon": 121.4} for i in range(2)]
    slots = [{"id": f"S-{i}-{k}", "practitioner_id": f"PR-{i}",
              "start": (NOW + timedelta(hours=1, minutes=30 * k)).isoformat()}
             for i in range(2) for k in range(6)]
    requests = [{"id": f"R{j}", "specialty": "cardiology",
                 "urgency": "urgent" if j == 0 else "routine",
                 "created": (NOW - timedelta(hours=j + 1)).isoformat(),
                 "match_quality": {"PR-1": 0.9}} for j in range(n_requests)]
    return {"now": NOW.isoformat(), "requests": requests, "practitioners": pracs,
            "slots": slots, "time_limit_s": 2.0}


def settings_for(tmp_path: Path, **kw: object) -> Settings:
    return Settings(environment="test", home=tmp_path / "var", mlflow_dir=tmp_path / "ml", **kw)


def test_plain_predictor_replans_and_suggests_without_a_model(tmp_path: Path) -> None:
    predictor = SchedulerPredictor(settings_for(tmp_path))
    result = predictor.replan(ReplanRequest.model_validate(payload()))
    assert result.violations == 0 and len(result.suggestions) == 3
    assert result.degraded and "no model" in (result.degraded_reason or "")
    assert {e.source for e in result.estimates} == {"default"}  # one slot, no risk term
    starts = {(s.practitioner_id, s.start) for s in result.suggestions}
    assert len(starts) == 3  # no slot twice
    urgent = next(s for s in result.suggestions if s.request_id == "R0")
    assert urgent.practitioner_id == "PR-1" and urgent.reasons  # the better match

    body = payload(1)
    one = predictor.suggest(SuggestRequest.model_validate({
        **{k: body[k] for k in ("now", "practitioners", "slots")},
        "request": {**body["requests"][0], "exclude": [
            {"practitioner_id": "PR-1", "start": body["slots"][6]["start"]}]}, "k": 3}))
    assert len(one.items) == 3
    assert (one.items[0].practitioner_id, one.items[0].start.isoformat()) != (
        "PR-1", body["slots"][6]["start"])  # a rejected slot is never offered again

    off = SchedulerPredictor(settings_for(tmp_path, scheduling_use_risk_model=False))
    assert not off.replan(ReplanRequest.model_validate(payload())).degraded  # by choice


def test_the_deployment_wraps_the_predictor(tmp_path: Path) -> None:
    from ray import serve

    from serving.deployments import SpecialistScheduler

    def in_local_mode() -> dict:
        # Local testing mode: the deployment class in this process, no Ray cluster (nothing
        # to delete afterwards; serve.delete would start one).
        handle = serve.run(SpecialistScheduler.bind(settings_for(tmp_path)), name="sched-test",
                           route_prefix=None, _local_testing_mode=True)
        return handle.replan.remote(payload()).result()

    # In a thread of its own: the browser tests' Playwright keeps an asyncio loop running in
    # this one for the session, and a handle's sync .result() refuses to run under a loop.
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(in_local_mode).result()
    assert len(answer["suggestions"]) == 3 and answer["violations"] == 0
    plain = SchedulerPredictor(settings_for(tmp_path)).replan(
        ReplanRequest.model_validate(payload())).model_dump(mode="json")
    # the same plain class inside: the same plan
    assert [(s["request_id"], s["practitioner_id"], s["start"])
            for s in answer["suggestions"]] == [
        (s["request_id"], s["practitioner_id"], s["start"]) for s in plain["suggestions"]]


@pytest.mark.e2e
def test_scheduler_beside_the_recommender_over_http(platform) -> None:  # type: ignore[no-untyped-def]
    base = f"{platform.settings.serve_url}/schedule"
    health = httpx.get(f"{base}/health", timeout=30)
    assert health.status_code == 200 and "model_version" in health.json()
    r = httpx.post(f"{base}/replan", json=payload(), timeout=60)
    assert r.status_code == 200, r.text
    assert len(r.json()["suggestions"]) == 3 and r.json()["violations"] == 0
    assert httpx.post(f"{base}/replan", json={"now": "yesterday"}, timeout=30
                      ).status_code == 422
    # the API's client: the same answer, from Serve (not the in-process fallback)
    from collaboration_api.serving_client import ServingClient

    client = ServingClient(platform.settings)
    try:
        answer = client.schedule_replan(ReplanRequest.model_validate(payload()))
    finally:
        client.close()
    assert [(s.request_id, s.practitioner_id) for s in answer.suggestions] == [
        (s["request_id"], s["practitioner_id"]) for s in r.json()["suggestions"]]
    # the recommender still answers on its own route
    assert httpx.get(f"{platform.settings.serve_url}/recommend/health", timeout=30
                     ).status_code == 200
