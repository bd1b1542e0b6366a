"""One referral from a hospital export to a ranked recommendation, on the real stack."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from collaboration_api.main import create_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def accounts(platform):  # type: ignore[no-untyped-def]
    """The demo users `regioncare up` seeds, one per role."""
    from collaboration_api.auth.service import seed_demo_users

    return seed_demo_users(platform.settings)


@pytest.fixture(scope="module")
def client(platform, accounts):  # type: ignore[no-untyped-def]
    """Signed in as a community clinician (a bearer token on every request)."""
    with TestClient(create_app(platform.settings)) as c:
        clin = next(a for a in accounts if a["role"] == "clinician")
        token = c.post("/auth/token", data={"username": clin["username"],
                                            "password": clin["password"]})
        assert token.status_code == 200, token.text
        c.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        c.institution = clin["institution"]  # type: ignore[attr-defined]
        yield c


def test_patients_are_listed_per_institution(client, platform):  # type: ignore[no-untyped-def]
    page = client.get("/patients", params={"limit": 5}).json()
    assert len(page["items"]) == 5 and page["next"]
    second = client.get("/patients", params={"limit": 5, "cursor": page["next"]}).json()
    assert {p["id"] for p in page["items"]}.isdisjoint({p["id"] for p in second["items"]})
    # only the caller's own institution's patients: records stay at home
    only = client.get("/patients", params={"limit": 200}).json()
    assert {p["institution_id"] for p in only["items"]} == {client.institution}
    assert client.get("/patients", headers={"Authorization": ""}).status_code == 401


def test_referral_gets_ranked_real_practitioners(client, platform):  # type: ignore[no-untyped-def]
    patient = client.get("/patients", params={"limit": 1}).json()["items"][0]
    created = client.post("/referrals", json={
        "patient_id": patient["id"], "diagnosis_code": "I21.4", "urgency": "urgent",
        "reason": "chest pain, raised troponin"}, headers={"Idempotency-Key": "k-1"})
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]

    replay = client.post("/referrals", json={
        "patient_id": patient["id"], "diagnosis_code": "I21.4", "urgency": "urgent",
        "reason": "chest pain, raised troponin"}, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201 and replay.json()["id"] == referral_id

    rec = client.get(f"/referrals/{referral_id}/recommendations")
    assert rec.status_code == 200, rec.text
    body = rec.json()
    assert body["model_version"] == platform.train["model_version"]
    assert body["degraded"] is False
    items = body["items"]
    assert len(items) == 10
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    known = set(pd.read_parquet(platform.settings.offline_dir / "practitioners.parquet")
                ["practitioner_id"])
    assert {i["practitioner_id"] for i in items} <= known
    assert all(i["reasons"] for i in items)
    # The ranker learned from outcomes that cardiology treats a myocardial infarction.
    assert items[0]["specialty"] == "cardiology"


def test_problem_details_for_bad_input(client):  # type: ignore[no-untyped-def]
    bad = client.post("/referrals", json={"patient_id": "x", "diagnosis_code": "heart",
                                          "urgency": "soon", "reason": "r"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= set(bad.json())
    missing = client.get("/referrals/does-not-exist/recommendations")
    assert missing.status_code == 404
    unknown = client.post("/referrals", json={"patient_id": "nobody", "diagnosis_code": "I10",
                                              "urgency": "routine", "reason": "r"})
    assert unknown.status_code == 404


def test_training_beat_the_rule_baselines(platform):  # type: ignore[no-untyped-def]
    metrics = platform.train["metrics"]
    model = metrics["model"]["ndcg@10"]
    assert model > metrics["baselines"]["popularity"]["ndcg@10"]
    assert model > metrics["baselines"]["specialty_rule"]["ndcg@10"]
    assert "oracle" in metrics
    # The model's own part of the subgroup gap, with its interval.
    low, high = metrics["model"]["subgroup_max_gap_vs_oracle_ci95"]
    assert 0 <= low <= high and metrics["model"]["subgroup_max_gap_vs_oracle"] <= high


def test_health_and_metrics(client):  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["checks"]["serving"]["ok"] is True
    assert "regioncare_api_request_seconds" in client.get("/metrics").text
