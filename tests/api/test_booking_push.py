"""A booking made through the API reaches the online features (its speed: bench features)."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e


def booked_14d(settings, practitioner_id: str) -> int:  # type: ignore[no-untyped-def]
    from features.push import cached_store

    rows = cached_store(settings).get_online_features(
        features=["practitioner_availability_fv:booked_14d"],
        entity_rows=[{"practitioner_id": practitioner_id}]).to_dict()
    return int(rows["booked_14d"][0] or 0)


def test_booking_through_the_api_reaches_the_online_store(platform) -> None:  # type: ignore[no-untyped-def]
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app

    settings = platform.settings
    accounts = seed_demo_users(settings)
    with TestClient(create_app(settings)) as client:
        def login(username: str, password: str) -> dict[str, str]:
            r = client.post("/auth/token", data={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        clin_acc = next(a for a in accounts if a["role"] == "clinician")
        admin_acc = next(a for a in accounts if a["role"] == "admin")
        clin, admin = login(clin_acc["username"], clin_acc["password"]), login(
            admin_acc["username"], admin_acc["password"])
        patient = client.get("/patients", params={"limit": 1}, headers=clin).json()["items"][0]
        rid = client.post("/referrals", headers=clin, json={
            "patient_id": patient["id"], "diagnosis_code": "J44.1", "urgency": "urgent",
            "reason": "COPD exacerbation"}).json()["id"]
        top = client.get(f"/referrals/{rid}/recommendations", headers=clin).json()["items"][0]
        spec_user = {"username": f"push-spec-{top['institution_id'].lower()}",
                     "password": "p" * 12, "role": "specialist",
                     "institution_id": top["institution_id"]}
        assert client.post("/auth/users", headers=admin, json=spec_user).status_code == 201
        spec = login(spec_user["username"], spec_user["password"])
        assert client.post(f"/referrals/{rid}/choose", headers=clin, json={
            "practitioner_id": top["practitioner_id"]}).status_code == 200
        assert client.post(f"/referrals/{rid}/accept", headers=spec).status_code == 200

        slots = pd.read_parquet(settings.offline_dir / "slots.parquet")
        free = slots[(slots["practitioner_id"] == top["practitioner_id"])
                     & (slots["status"] == "free")].sort_values("start")
        assert not free.empty
        before = booked_14d(settings, top["practitioner_id"])
        start = free["start"].iloc[0].isoformat()
        scheduled = client.post(f"/referrals/{rid}/schedule", headers=spec,
                                json={"start": start, "minutes": 30})
        assert scheduled.status_code == 200, scheduled.text
        sent = time.monotonic()
        while booked_14d(settings, top["practitioner_id"]) == before:
            # The first push in a process pays Feast's ~9 s import; later ones take <0.2 s.
            assert time.monotonic() - sent < 30, "booking never reached the online store"
            time.sleep(0.05)
        visible_s = time.monotonic() - sent
    print(f"booking visible online after {visible_s:.2f} s")
    assert booked_14d(settings, top["practitioner_id"]) == before + 1
