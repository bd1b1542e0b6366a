"""The scheduling board (issue 6): board -> accept (a hold) -> confirm books an Appointment;
holds expire by the (injected) clock; adjust and reject; every decision is a label; twenty
concurrent accepts of one slot give one hold and nineteen 409s, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.conftest import build_region, patient_id, practitioner_id

# Slots start a day after the first test's clock, so urgent (48 h) and routine requests
# both fit; built once per module, relative to the real date the tests run on.
T0 = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
FIRST = (T0 + timedelta(days=1)).replace(hour=1)  # 09:00 Asia/Shanghai
EXTRA = "PR-R1-T1-04"  # a second cardiologist at R1-T1


def slot_start(k: int) -> datetime:
    return FIRST + timedelta(minutes=30 * k)


@pytest.fixture(scope="module")
def region_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API test region plus a morning of free slots for R1-T1's practitioners."""
    from features.records import Practitioner, PractitionerRole, RecordStore, Schedule, Slot

    home = tmp_path_factory.mktemp("schedule-region") / "var"
    build_region(home / "records")
    pids = [practitioner_id("R1-T1", i) for i in (1, 2, 3)] + [EXTRA]
    res: list = [Practitioner(id=EXTRA, organization="R1-T1", name="Dr Extra",
                              gender="female", title="chief", experience_years=20),
                 PractitionerRole(id=f"role-{EXTRA}", organization="R1-T1",
                                  practitioner=EXTRA, specialty="cardiology"),
                 Schedule(id=f"sched-{EXTRA}", organization="R1-T1", practitioner=EXTRA)]
    for pid in pids:
        for k in range(8):
            t = slot_start(k)
            res.append(Slot(id=f"slot-{pid}-m{k}", organization="R1-T1",
                            schedule=f"sched-{pid}", practitioner=pid,
                            start=t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            end=(t + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            status="free"))
    with RecordStore.for_institution(home / "records", "R1-T1") as store:
        store.upsert_many(res)
    return home


@pytest.fixture
def clock(api) -> Iterator[list[datetime]]:  # type: ignore[no-untyped-def]
    """The board's clock, moved by the test: ``clock[0]`` is now."""
    now = [T0]
    api.client.app.state.schedule_clock = lambda: now[0]
    try:
        yield now
    finally:
        api.client.app.state.schedule_clock = None


def accepted_referral(api, practitioner: str, patient: int, urgency: str = "urgent",  # type: ignore[no-untyped-def]
                      diagnosis: str = "I21.4") -> str:
    clin, spec = api.user("clinician", "R1-C1"), api.user("specialist", "R1-T1")
    r = api.post("/referrals", clin, {"patient_id": patient_id("R1-C1", patient),
                                      "diagnosis_code": diagnosis, "urgency": urgency,
                                      "reason": "needs a specialist"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert api.post(f"/referrals/{rid}/choose", clin, {
        "practitioner_id": practitioner, "institution_id": "R1-T1"}).status_code == 200
    assert api.post(f"/referrals/{rid}/accept", spec).status_code == 200
    return rid


def board_item(api, rid: str, user: str) -> dict:  # type: ignore[no-untyped-def]
    r = api.get("/schedule/board", user)
    assert r.status_code == 200, r.text
    return next(i for i in r.json()["items"] if i["request_id"] == rid)


def labels_for(api, rid: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The decisions stored for a request, in order."""
    from sqlalchemy import create_engine, text

    engine = create_engine(api.settings.app_db_url)
    try:
        with engine.connect() as conn:
            return [d for (d,) in conn.execute(text(
                "SELECT decision FROM schedule_decision WHERE referral_id = :r ORDER BY id"),
                {"r": rid})]
    finally:
        engine.dispose()


def test_board_accept_confirm_books_an_appointment(api, clock) -> None:  # type: ignore[no-untyped-def]
    sched = api.user("scheduler", "R1-T1")
    cardiologist = practitioner_id("R1-T1", 1)
    rid = accepted_referral(api, cardiologist, 1)

    # roles and institutions: schedulers and admins of the receiving institution only
    assert api.get("/schedule/board", api.user("clinician", "R1-C1")).status_code == 403
    assert api.get("/schedule/board", api.user("specialist", "R1-T1")).status_code == 403
    other = api.get("/schedule/board", api.user("scheduler", "R2-T1"))
    assert other.status_code == 200 and rid not in {i["request_id"] for i in
                                                   other.json()["items"]}
    assert api.post(f"/schedule/board/{rid}/accept", api.user("scheduler", "R2-T1")
                    ).status_code == 404
    assert api.post(f"/schedule/board/{rid}/accept", api.user("clinician", "R1-C1")
                    ).status_code == 403
    assert api.get(f"/schedule/practitioners/{cardiologist}/slots",
                   api.user("scheduler", "R2-T1")).status_code == 404

    board = api.get("/schedule/board", sched)
    assert board.status_code == 200, board.text
    body = board.json()
    # Serve is not running in these tests: the plain scheduler answered, and says so.
    assert body["degraded"] and "unavailable" in body["degraded_reason"]
    item = next(i for i in body["items"] if i["request_id"] == rid)
    sug = item["suggestion"]
    assert sug is not None, item
    assert sug["practitioner_id"] in (cardiologist, EXTRA)  # cardiologists only
    assert sug["reasons"] and sug["minutes"] == 30 * item["duration_slots"]
    assert datetime.fromisoformat(sug["start"]) >= FIRST

    held = api.post(f"/schedule/board/{rid}/accept", sched)
    assert held.status_code == 201, held.text
    hold = held.json()
    assert (hold["status"], hold["practitioner_id"], hold["start"]) == (
        "held", sug["practitioner_id"], sug["start"])
    assert datetime.fromisoformat(hold["expires_at"]) == T0 + timedelta(
        minutes=api.settings.schedule_hold_minutes)
    again = api.post(f"/schedule/board/{rid}/accept", sched)
    assert again.status_code == 409 and again.headers["content-type"].startswith(
        "application/problem+json")
    assert board_item(api, rid, sched)["hold"]["id"] == hold["id"]
    free = api.get(f"/schedule/practitioners/{hold['practitioner_id']}/slots", sched).json()
    assert hold["start"] not in {s["start"] for s in free["items"]}  # held: not free

    done = api.post(f"/schedule/board/{rid}/confirm", sched)
    assert done.status_code == 200, done.text
    confirmed = done.json()
    assert confirmed["business_status"] == "scheduled"
    appt = api.get(f"/fhir/Appointment/{confirmed['appointment_id']}", sched).json()
    assert appt["status"] == "booked"
    assert api.post(f"/schedule/board/{rid}/confirm", sched).status_code == 409  # scheduled
    history = api.get(f"/referrals/{rid}", api.user("clinician", "R1-C1")).json()["history"]
    assert history[-1]["action"] == "schedule" and history[-1]["detail"]["via"] == \
        "schedule board"
    assert rid not in {i["request_id"] for i in api.get("/schedule/board", sched).json()[
        "items"]}
    assert labels_for(api, rid) == ["accepted", "confirmed"]


def test_hold_expires_then_adjust_and_reject(api, clock) -> None:  # type: ignore[no-untyped-def]
    sched = api.user("scheduler", "R1-T1")
    endo = practitioner_id("R1-T1", 2)
    rid = accepted_referral(api, endo, 2, urgency="routine", diagnosis="E11.9")
    sug = board_item(api, rid, sched)["suggestion"]
    assert sug["practitioner_id"] == endo
    assert api.post(f"/schedule/board/{rid}/accept", sched).status_code == 201

    clock[0] = T0 + timedelta(minutes=api.settings.schedule_hold_minutes + 1)
    late = api.post(f"/schedule/board/{rid}/confirm", sched)
    assert late.status_code == 409 and late.json()["title"] == "Hold expired", late.text
    assert board_item(api, rid, sched)["hold"] is None  # the slot is free again

    # adjust: the scheduler picks another free slot of the same practitioner
    free = api.get(f"/schedule/practitioners/{endo}/slots", sched).json()["items"]
    assert sug["start"] in {s["start"] for s in free}  # the expired hold released it
    other = next(s for s in free if s["start"] != sug["start"])
    moved = api.post(f"/schedule/board/{rid}/adjust", sched, {
        "practitioner_id": endo, "start": other["start"], "reason": "patient prefers later"})
    assert moved.status_code == 201, moved.text
    assert moved.json()["start"] == other["start"]
    bad = api.post(f"/schedule/board/{rid}/adjust", sched, {
        "practitioner_id": endo, "start": (FIRST + timedelta(days=30)).isoformat()})
    assert bad.status_code == 422  # not a slot in the schedule

    # reject the held slot, with a reason: it is released and not suggested again
    assert api.post(f"/schedule/board/{rid}/reject", sched, {"reason": "x"}).status_code == 422
    rej = api.post(f"/schedule/board/{rid}/reject", sched, {"reason": "clinic closed then"})
    assert rej.status_code == 200 and rej.json()["decision"] == "rejected"
    nxt = board_item(api, rid, sched)
    assert nxt["hold"] is None and nxt["suggestion"]["start"] != other["start"]

    assert labels_for(api, rid) == ["accepted", "expired", "adjusted", "rejected"]
    from training.decisions import load_schedule_decision_labels

    labels, counts = load_schedule_decision_labels(api.settings)
    mine = labels[labels["referral_id"] == rid]
    assert dict(zip(mine["decision"], mine["label"], strict=True)) == {
        "expired": 0, "rejected": 0}
    assert counts["expired"] >= 1 and counts["rejected"] >= 1


def test_twenty_concurrent_accepts_of_one_slot_hold_it_once(api, clock) -> None:  # type: ignore[no-untyped-def]
    """Twenty requests, one practitioner's slot, all accepted at the same moment: the
    database's unique key admits exactly one hold; nineteen clear conflicts (409)."""
    sched = api.user("scheduler", "R1-T1")
    resp = practitioner_id("R1-T1", 3)
    rids = [accepted_referral(api, resp, 3 + i % 4, urgency="routine", diagnosis="J44.9")
            for i in range(20)]
    slot = {"practitioner_id": resp, "start": slot_start(5).isoformat()}
    headers = api.headers(sched)
    barrier = threading.Barrier(20)

    def accept(rid: str) -> tuple[int, str]:
        barrier.wait()
        r = api.client.post(f"/schedule/board/{rid}/accept", headers=headers, json=slot)
        return r.status_code, r.text

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(accept, rids))
    codes = sorted(code for code, _ in answers)
    assert codes == [201] + [409] * 19, [a for a in answers if a[0] not in (201, 409)][:2]
    assert all('"Slot held"' in text or '"Slot taken"' in text
               for code, text in answers if code == 409)

    from sqlalchemy import create_engine, text

    def count(sql: str) -> int:
        engine = create_engine(api.settings.app_db_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql), {"p": resp}).scalar() or 0)
        finally:
            engine.dispose()

    assert count("SELECT count(*) FROM schedule_hold h JOIN schedule_hold_slot s "
                 "ON s.hold_id = h.id WHERE h.status = 'held' AND s.practitioner_id = :p") == 1
    # the winner books it: exactly one Appointment in that slot
    winner = rids[[code for code, _ in answers].index(201)]
    assert api.post(f"/schedule/board/{winner}/confirm", sched).status_code == 200
    assert count("SELECT count(*) FROM appointment WHERE practitioner_id = :p "
                 "AND status = 'booked'") == 1
