"""Suggestions from the real recommender (the session `platform`: Feast, MLflow, Ray
Serve) and the decisions on them, stored with the model version: tomorrow's labels."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(platform):  # type: ignore[no-untyped-def]
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app

    accounts = {a["role"] + "@" + a["institution"]: a for a in seed_demo_users(platform.settings)}
    with TestClient(create_app(platform.settings)) as client:
        def login(acc: dict) -> dict[str, str]:
            r = client.post("/auth/token", data={"username": acc["username"],
                                                 "password": acc["password"]})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        yield client, accounts, login


def test_choices_on_suggestions_are_stored_with_the_model_version(live, platform) -> None:  # type: ignore[no-untyped-def]
    client, accounts, login = live
    clin_acc = next(a for k, a in accounts.items() if k.startswith("clinician@"))
    clin = login(clin_acc)
    admin = login(next(a for k, a in accounts.items() if k.startswith("admin@")))
    patient = client.get("/patients", params={"limit": 1}, headers=clin).json()["items"][0]
    rid = client.post("/referrals", headers=clin, json={
        "patient_id": patient["id"], "diagnosis_code": "I21.4", "urgency": "urgent",
        "reason": "NSTEMI"}).json()["id"]
    rec = client.get(f"/referrals/{rid}/recommendations", headers=clin)
    assert rec.status_code == 200, rec.text
    # the patient's travel limit reaches the recommender; a limit below 0 is refused
    near = client.get(f"/referrals/{rid}/recommendations", headers=clin,
                      params={"max_km": 25})
    assert near.status_code == 200, near.text
    assert all(i["distance_km"] <= 25 for i in near.json()["items"])
    assert "25 km" in near.json()["notes"][0]
    assert client.get(f"/referrals/{rid}/recommendations", headers=clin,
                      params={"max_km": -5}).status_code == 422
    version = platform.train["model_version"]
    assert rec.json()["model_version"] == version and not rec.json()["degraded"]
    top = rec.json()["items"][0]
    # each suggestion names its practitioner, as their institution's directory lists them
    people = client.get("/directory/practitioners", headers=clin,
                        params={"institution": top["institution_id"],
                                "q": top["practitioner_id"]}).json()
    assert top["practitioner_name"] and [p["name"] for p in people] == [top["practitioner_name"]]
    assert all(i["practitioner_name"] for i in rec.json()["items"])
    # the receiving side needs someone to answer: the admin opens an account there
    new = {"username": f"spec-{top['institution_id'].lower()}-x", "password": "p" * 12,
           "role": "specialist", "institution_id": top["institution_id"]}
    assert client.post("/auth/users", headers=admin, json=new).status_code == 201
    spec = login({"username": new["username"], "password": new["password"]})
    assert client.get(f"/referrals/{rid}/recommendations", headers=spec).status_code == 404
    # the clinician takes the top suggestion (its institution comes from the suggestion)
    chosen = client.post(f"/referrals/{rid}/choose", headers=clin,
                         json={"practitioner_id": top["practitioner_id"]})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["target_institution_id"] == top["institution_id"]
    assert client.get(f"/referrals/{rid}/recommendations", headers=spec).status_code == 403
    assert client.post(f"/referrals/{rid}/accept", headers=spec).status_code == 200
    decisions = client.get(f"/referrals/{rid}", headers=clin).json()["decisions"]
    assert [(d["decision"], d["suggested"], d["model_version"], d["rank"]) for d in decisions
            ] == [("chosen", True, version, 1), ("accepted", True, version, 1)]

    # continuity of care: the patient's next referral tells the recommender who accepted
    # this one (the ranker's seen_before feature)
    from collaboration_api.db import make_engine, session_factory
    from collaboration_api.referral.models import Referral
    from collaboration_api.referral.service import seen_practitioners

    again = client.post("/referrals", headers=clin, json={
        "patient_id": patient["id"], "diagnosis_code": "I25.1", "urgency": "routine",
        "reason": "follow-up"}).json()["id"]
    assert client.get(f"/referrals/{again}/recommendations", headers=clin).status_code == 200
    engine = make_engine(platform.settings.app_db_url)
    with session_factory(engine)() as db:
        seen = seen_practitioners(db, db.get(Referral, again))
    assert seen[0] == top["practitioner_id"]
    engine.dispose()

    # a consultation gets expert suggestions from the same recommender
    cid = client.post("/consults", headers=clin, json={
        "patient_id": patient["id"], "diagnosis_code": "E11.9", "mode": "async",
        "question": "insulin?"}).json()["id"]
    sug = client.get(f"/consults/{cid}/suggestions", headers=clin)
    assert sug.status_code == 200 and sug.json()["items"]
    pick = sug.json()["items"][1]
    assert client.post(f"/consults/{cid}/choose", headers=clin,
                       json={"practitioner_id": pick["practitioner_id"]}).status_code == 200
    d = client.get(f"/consults/{cid}", headers=clin).json()["decisions"][0]
    assert (d["suggested"], d["rank"], d["model_version"]) == (True, 2, version)
    assert d["practitioner_name"] and d["practitioner_name"] == pick["practitioner_name"]


def test_challenger_in_shadow_is_compared_on_the_clinicians_choices(live, platform) -> None:  # type: ignore[no-untyped-def]
    """Serving scores the challenger beside the champion; the API logs its ranking unseen
    and the models API compares the two on the specialists that clinicians chose."""
    import time

    import mlflow

    from benchmarks.recommend import register_copy_of_champion
    from training import registry

    client, accounts, login = live
    settings = platform.settings
    name = settings.referral_model_name
    clin = login(next(a for k, a in accounts.items() if k.startswith("clinician@")))
    admin = login(next(a for k, a in accounts.items() if k.startswith("admin@")))
    champion, copy = register_copy_of_champion(settings)
    earlier = registry.alias_version(settings, name, registry.CHALLENGER)
    mlflow.MlflowClient().set_registered_model_alias(name, registry.CHALLENGER, copy)
    try:
        patient = client.get("/patients", params={"limit": 1}, headers=clin).json()["items"][0]
        rid = client.post("/referrals", headers=clin, json={
            "patient_id": patient["id"], "diagnosis_code": "J44.1", "urgency": "routine",
            "reason": "COPD exacerbations"}).json()["id"]

        def pair() -> dict | None:
            report = client.get(f"/models/{name}/shadow", headers=admin)
            assert report.status_code == 200, report.text
            return next((p for p in report.json()["pairs"] if p["challenger"] == copy), None)

        deadline = time.monotonic() + 30  # the replicas follow the alias within seconds
        while True:
            rec = client.get(f"/referrals/{rid}/recommendations", headers=clin)
            assert rec.status_code == 200 and "shadow" not in rec.json()  # never shown
            if pair() is not None or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        top = rec.json()["items"][0]
        assert client.post(f"/referrals/{rid}/choose", headers=clin,
                           json={"practitioner_id": top["practitioner_id"]}).status_code == 200
        got = pair()
        assert got is not None, "serving never scored the challenger in shadow"
        assert got["champion"] == champion and got["requests"] >= 1
        # the copy has the champion's weights: full agreement, the same rank for the choice
        assert got["top1_agreement"] == got["overlap_at_k"] == 1.0
        assert got["chosen"] == 1 and got["champion_mrr"] == got["challenger_mrr"] == 1.0
        assert client.get(f"/models/{name}/shadow", headers=clin).status_code == 403
        assert client.get("/models/no-such-model/shadow", headers=admin).status_code == 404
    finally:  # other tests' aliases as they were
        mlflow.MlflowClient().set_registered_model_alias(name, registry.CHALLENGER,
                                                         earlier or champion)
