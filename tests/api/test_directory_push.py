"""Directory changes reach the feature store: an admin deactivates a practitioner of their
institution, then reactivates them with another weekly capacity and specialty, and the
online features (availability, profile, the institution's active staff) say so (how soon:
``push_visible_s`` of ``regioncare bench features``) and the recommender's candidate cache
sees the online marker move and reloads the change.
Only the practitioner's own institution's admins may do it. On the real stack (the shared
``platform``); also feature drift of its real champion."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.e2e

PROFILE = ["practitioner_profile_fv:weekly_capacity", "practitioner_profile_fv:specialty"]
AVAILABILITY = ["practitioner_availability_fv:free_slots_14d",
                "practitioner_availability_fv:next_open_slot"]


def online(settings, practitioner_id: str, institution_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from features.push import cached_store

    store = cached_store(settings)
    row = store.get_online_features(features=PROFILE + AVAILABILITY, entity_rows=[
        {"practitioner_id": practitioner_id}]).to_dict()
    inst = store.get_online_features(features=["institution_fv:n_practitioners"],
                                     entity_rows=[{"institution_id": institution_id}]
                                     ).to_dict()
    return {"weekly_capacity": row["weekly_capacity"][0], "specialty": row["specialty"][0],
            "free_slots_14d": row["free_slots_14d"][0],
            "next_open_slot": row["next_open_slot"][0],
            "n_practitioners": inst["n_practitioners"][0]}


def wait_for(settings, practitioner_id: str, institution_id: str, marker: int,  # type: ignore[no-untyped-def]
             **expected: Any) -> float:
    """Seconds until the online features and the marker show the change."""
    from features.store import online_marker

    sent = time.monotonic()
    while True:
        got = online(settings, practitioner_id, institution_id)
        if online_marker(settings) != marker and all(
                got[k] == v for k, v in expected.items()):
            return time.monotonic() - sent
        assert time.monotonic() - sent < 30, f"never online: {got} != {expected}"
        time.sleep(0.02)


def pick_practitioner(settings, institution_id: str) -> str:  # type: ignore[no-untyped-def]
    """A specialist of the institution with free slots in the next 14 days."""
    prac = pd.read_parquet(settings.offline_dir / "practitioners.parquet")
    prac = prac[(prac["institution_id"] == institution_id)
                & (prac["specialty"] != "general_practice")]
    slots = pd.read_parquet(settings.offline_dir / "slots.parquet")
    now = pd.Timestamp.now(tz="UTC")
    soon = slots[(slots["status"] == "free") & (slots["start"] >= now)
                 & (slots["start"] < now + pd.Timedelta(days=14))
                 & slots["practitioner_id"].isin(set(prac["practitioner_id"]))]
    assert not soon.empty, "no specialist with free slots at the admin's institution"
    return str(soon.groupby("practitioner_id").size().idxmax())


def test_practitioner_changes_reach_the_online_store(platform) -> None:  # type: ignore[no-untyped-def]
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app
    from features.push import cached_store, practitioner_slots
    from features.store import availability_rows, online_marker
    from serving.predictor import CandidateCache

    settings = platform.settings
    accounts = seed_demo_users(settings)
    admin_acc = next(a for a in accounts if a["role"] == "admin")
    inst = admin_acc["institution"]
    pid = pick_practitioner(settings, inst)
    other = next(a["institution"] for a in accounts
                 if a["role"] == "specialist" and a["institution"] != inst)
    other_pid = pick_practitioner(settings, other)
    before = online(settings, pid, inst)  # also opens the store: Feast's import is paid here
    assert before["weekly_capacity"] > 0
    # Availability now, from the slots and the bookings pushed so far.
    now_avail = availability_rows(practitioner_slots(settings, pid), datetime.now(UTC), [pid])
    free_now = int(now_avail["free_slots_14d"].iloc[0])
    assert free_now > 0
    cache = CandidateCache(settings, store=lambda: cached_store(settings), ids=lambda: [pid],
                           offline_rows=lambda ids: {}, poll_s=0)
    cache.refresh()
    assert not cache.stale() and cache.snapshot.source == "online"

    with TestClient(create_app(settings)) as client:
        def login(acc: dict[str, str]) -> dict[str, str]:
            r = client.post("/auth/token", data={"username": acc["username"],
                                                 "password": acc["password"]})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        admin = login(admin_acc)
        path = f"/directory/practitioners/{pid}"
        # Who may: the practitioner's own institution's admins only.
        clin = login(next(a for a in accounts if a["role"] == "clinician"))
        assert client.patch(path, headers=clin, json={"active": False}).status_code == 403
        r = client.patch(f"/directory/practitioners/{other_pid}", headers=admin,
                         json={"active": False})  # another institution's practitioner
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert client.patch("/directory/practitioners/PR-NOBODY", headers=admin,
                            json={"active": False}).status_code == 404
        assert client.patch(path, headers=admin, json={}).status_code == 422
        assert client.patch(path, headers=admin, json={"weekly_capacity": -1}
                            ).status_code == 422
        assert online(settings, pid, inst) == before  # nothing refused was pushed

        # Deactivated: no open slot, no capacity, one fewer active at the institution.
        marker = online_marker(settings)
        r = client.patch(path, headers=admin, json={"active": False})
        assert r.status_code == 200, r.text
        assert r.json()["active"] is False and r.json()["institution_id"] == inst
        took = wait_for(settings, pid, inst, marker, free_slots_14d=0, next_open_slot=None,
                        weekly_capacity=0.0,
                        n_practitioners=before["n_practitioners"] - 1)
        print(f"deactivation online after {took:.2f} s")
        assert cache.stale()  # the candidate cache's watcher would reload now
        cache.refresh()
        snap = cache.snapshot
        assert snap.table.columns["weekly_capacity"][0] == 0.0
        assert pd.isna(snap.next_slot[0])
        found = client.get("/directory/practitioners", headers=clin,
                           params={"institution": inst, "active": False}).json()
        assert [p["id"] for p in found] == [pid]

        # Back, with another capacity and specialty: slots reopen, staff count restored.
        specialty = "geriatrics" if before["specialty"] != "geriatrics" else "nephrology"
        marker = online_marker(settings)
        r = client.patch(path, headers=admin, json={"active": True, "weekly_capacity": 7.5,
                                                    "specialty": specialty})
        assert r.status_code == 200, r.text
        took = wait_for(settings, pid, inst, marker, weekly_capacity=7.5,
                        specialty=specialty, free_slots_14d=free_now,
                        n_practitioners=before["n_practitioners"])
        print(f"reactivation online after {took:.2f} s")
        assert pd.Timestamp(online(settings, pid, inst)["next_open_slot"]) == pd.Timestamp(
            now_avail["next_open_slot"].iloc[0])
        cache.refresh()
        assert cache.snapshot.table.columns["specialty"][0] == specialty
        assert cache.snapshot.table.columns["weekly_capacity"][0] == 7.5

        # Leave the shared platform as it was found.
        marker = online_marker(settings)
        assert client.patch(path, headers=admin, json={
            "weekly_capacity": before["weekly_capacity"],
            "specialty": before["specialty"]}).status_code == 200
        wait_for(settings, pid, inst, marker, free_slots_14d=free_now, **{k: before[k] for k in (
            "weekly_capacity", "specialty", "n_practitioners")})


def test_feature_drift_of_the_real_champion(platform) -> None:  # type: ignore[no-untyped-def]
    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app

    settings = platform.settings
    accounts = seed_demo_users(settings)
    sup = next(a for a in accounts if a["role"] == "supervisor")
    with TestClient(create_app(settings)) as client:
        token = client.post("/auth/token", data={"username": sup["username"],
                                                 "password": sup["password"]}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        r = client.get("/supervision/drift", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_version"] == platform.train["champion"]
        assert body["recent_window"]["referrals"] >= 20
        assert all(f["psi"] is None or f["psi"] >= 0 for f in body["features"])
        assert body["worst"] is not None
        print("drift of the real champion:", body["worst"],
              {f["name"]: f["psi"] for f in body["features"]})
        alerts = client.get("/supervision/alerts", headers=headers)
        assert alerts.status_code == 200
        assert any(a["kind"] == "model.drift" for a in alerts.json()) == body["alert"]
