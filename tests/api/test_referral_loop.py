"""Done when: one referral through the whole up-and-down loop over HTTP, the right role at
each step and a 403 for each wrong one; notifications reach the other side."""

from __future__ import annotations

import json

from tests.api.conftest import patient_id, practitioner_id

REFERRAL = {"diagnosis_code": "I21.4", "urgency": "urgent",
            "reason": "chest pain, raised troponin",
            "attachments": [{"reference": "DiagnosticReport/ecg-1", "title": "12-lead ECG"}]}


def test_referral_up_and_down_loop(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    other_clin = api.user("clinician", "R1-C2")
    spec = api.user("specialist", "R1-T1")
    sched = api.user("scheduler", "R1-T1")
    other_spec = api.user("specialist", "R2-T1")
    radiologist = api.user("radiologist", "R1-T1")
    teacher = api.user("teacher", "R1-T1")

    # create: a scheduler may not refer; the clinician may, for a patient of their own site
    body = {"patient_id": patient_id("R1-C1", 1), **REFERRAL}
    assert api.post("/referrals", sched, body).status_code == 403
    assert api.post("/referrals", clin, {**body, "patient_id": patient_id("R1-C2", 1)}
                    ).status_code == 404
    created = api.post("/referrals", clin, body, key="loop-1")
    assert created.status_code == 201, created.text
    ref = created.json()
    rid = ref["id"]
    assert (ref["status"], ref["business_status"]) == ("draft", "awaiting-choice")

    def step(action: str, user: str, payload: dict | None = None, status: int = 200) -> dict:
        r = api.post(f"/referrals/{rid}/{action}", user, payload)
        assert r.status_code == status, (action, user, r.status_code, r.text)
        return r.json()

    target = {"practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R1-T1"}
    # choose: only the requesting side's clinicians
    step("choose", spec, target, 404)  # R1-T1 is no party yet: the referral is invisible
    step("choose", api.user("scheduler", "R2-T1"), target, 404)
    step("accept", clin, None, 403)  # right institution for choose, but accept is theirs
    r = step("choose", clin, target)
    assert (r["status"], r["business_status"]) == ("requested", "awaiting-acceptance")
    # skipping steps is refused
    step("schedule", sched, {"start": "2026-12-01T01:00:00Z"}, 409)
    step("close", clin, None, 409)
    # accept/decline: the receiving institution's specialist or scheduler only
    step("accept", other_spec, None, 404)  # another tertiary hospital
    step("accept", radiologist, None, 403)
    step("decline", clin, {"reason": "not mine to decline"}, 403)
    r = step("decline", spec, {"reason": "no catheter lab slot this week"})
    assert (r["status"], r["business_status"]) == ("rejected", "declined")
    assert r["status_reason"] == "no catheter lab slot this week"
    # the clinician chooses again, and this time the receiving side accepts
    r = step("choose", clin, {"practitioner_id": practitioner_id("R1-T1", 2),
                              "institution_id": "R1-T1"})
    r = step("accept", sched)
    assert (r["status"], r["business_status"]) == ("accepted", "accepted")
    assert r["target_practitioner_name"] == "Dr R1-T1 2"  # every step's answer names whom
    # schedule: receiving side; a clinician of the requester may not
    step("schedule", clin, {"start": "2026-12-01T01:00:00Z"}, 403)
    r = step("schedule", sched, {"start": "2026-12-01T01:00:00Z", "minutes": 30})
    assert (r["status"], r["business_status"]) == ("ready", "scheduled")
    appointment = r["appointment_id"]
    step("arrive", clin, None, 403)
    r = step("arrive", sched)
    assert (r["status"], r["business_status"]) == ("in-progress", "arrived")
    encounter = r["encounter_id"]
    # complete: the specialist only (a scheduler does not treat)
    step("complete", sched, None, 403)
    step("complete", teacher, None, 403)
    step("complete", spec)
    # down-referral with discharge summary and follow-up plan
    back = {"discharge_summary": "PCI to LAD, uneventful.",
            "follow_up_plan": "DAPT 12 months; lipids in 6 weeks."}
    step("refer-back", clin, back, 403)
    step("refer-back", sched, back, 403)
    r = step("refer-back", spec, back)
    assert r["business_status"] == "referred-back" and r["follow_up_plan"]
    # the loop is closed by the community: not by the hospital, nor by another community site
    step("close", spec, None, 403)
    step("close", other_clin, None, 404)
    r = step("close", clin)
    assert (r["status"], r["business_status"]) == ("completed", "closed")
    step("cancel", clin, None, 409)

    # every transition is timestamped, in order; decisions are stored for training
    detail = api.get(f"/referrals/{rid}", clin).json()
    actions = [e["action"] for e in detail["history"]]
    assert actions == ["create", "choose", "decline", "choose", "accept", "schedule", "arrive",
                       "complete", "refer-back", "close"]
    times = [e["at"] for e in detail["history"]]
    assert times == sorted(times)
    # the visit it was scheduled for, and whom it went to, by name
    visit = detail["appointment"]
    assert (visit["id"], visit["start"], visit["institution_id"], visit["status"]) == (
        appointment, "2026-12-01T01:00:00Z", "R1-T1", "fulfilled")
    assert detail["target_practitioner_name"] == "Dr R1-T1 2"
    listed = api.get("/referrals", clin, params={"side": "sent"}).json()["items"]
    assert next(i for i in listed if i["id"] == rid)["target_practitioner_name"] == "Dr R1-T1 2"
    decisions = [(d["practitioner_id"], d["decision"]) for d in detail["decisions"]]
    assert decisions == [(practitioner_id("R1-T1", 1), "chosen"),
                         (practitioner_id("R1-T1", 1), "declined"),
                         (practitioner_id("R1-T1", 2), "chosen"),
                         (practitioner_id("R1-T1", 2), "accepted")]
    assert detail["decisions"][1]["reason"] == "no catheter lab slot this week"
    assert [d["practitioner_name"] for d in detail["decisions"]] == [
        "Dr R1-T1 1", "Dr R1-T1 1", "Dr R1-T1 2", "Dr R1-T1 2"]

    # the other side was notified of each step
    spec_kinds = [n["kind"] for n in api.get("/notifications", spec).json()["items"]
                  if n["subject_id"] == rid]
    assert spec_kinds.count("referral.choose") == 2 and "referral.close" in spec_kinds
    clin_feed = api.get("/notifications", clin).json()["items"]
    clin_kinds = [n["kind"] for n in clin_feed if n["subject_id"] == rid]
    for kind in ("decline", "accept", "schedule", "arrive", "complete", "refer-back"):
        assert f"referral.{kind}" in clin_kinds
    assert "referral.choose" not in clin_kinds  # one's own steps are not notified back
    read = api.post(f"/notifications/{clin_feed[0]['id']}/read", clin)
    assert read.status_code == 200 and read.json()["read_at"]
    assert api.post(f"/notifications/{clin_feed[0]['id']}/read", spec).status_code == 404

    # the same as server-sent events
    with api.client.stream("GET", "/notifications/stream",
                           params={"seconds": 0.3}, headers=api.headers(clin)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert {e["kind"] for e in events} >= {"referral.accept", "referral.refer-back"}
    last = [line for line in text.splitlines() if line.startswith("id: ")][-1][4:]
    with api.client.stream("GET", "/notifications/stream", params={"seconds": 0.2},
                           headers={**api.headers(clin), "Last-Event-ID": last}) as stream:
        assert "data: " not in "".join(stream.iter_text())

    # both sides list it; the appointment and encounter are in FHIR
    assert rid in {r["id"] for r in api.get("/referrals", spec,
                                            params={"side": "received"}).json()["items"]}
    assert rid in {r["id"] for r in api.get("/referrals", clin,
                                            params={"side": "sent"}).json()["items"]}
    assert rid not in {r["id"] for r in api.get("/referrals", other_spec).json()["items"]}
    assert api.get(f"/fhir/Appointment/{appointment}", sched).json()["status"] == "fulfilled"
    assert api.get(f"/fhir/Encounter/{encounter}", clin).json()["status"] == "finished"


def test_declined_referral_can_be_cancelled(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C2")
    spec = api.user("specialist", "R2-T1")
    rid = api.post("/referrals", clin, {"patient_id": patient_id("R1-C2", 2), **REFERRAL}
                   ).json()["id"]
    assert api.post(f"/referrals/{rid}/choose", clin, {
        "practitioner_id": practitioner_id("R2-T1", 1), "institution_id": "R2-T1"}
    ).status_code == 200
    assert api.post(f"/referrals/{rid}/choose", clin, {
        "practitioner_id": "nobody", "institution_id": "R2-T1"}).status_code == 409
    assert api.post(f"/referrals/{rid}/decline", spec, {"reason": "x"}).status_code == 422
    assert api.post(f"/referrals/{rid}/decline", spec, {"reason": "full"}).status_code == 200
    # choosing a practitioner who does not work there is refused
    bad = api.post(f"/referrals/{rid}/choose", clin, {
        "practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R2-T1"})
    assert bad.status_code == 422
    r = api.post(f"/referrals/{rid}/cancel", clin, {"reason": "patient moved away"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_concurrent_steps_move_a_referral_once(api) -> None:  # type: ignore[no-untyped-def]
    """Eight receiving-side users accept at the same moment: one wins, the rest get 409."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    clin, spec = api.user("clinician", "R1-C1"), api.user("specialist", "R1-T1")
    rid = api.post("/referrals", clin, {"patient_id": patient_id("R1-C1", 4), **REFERRAL}
                   ).json()["id"]
    api.post(f"/referrals/{rid}/choose", clin, {"practitioner_id": practitioner_id("R1-T1", 3),
                                                "institution_id": "R1-T1"})
    headers = api.headers(spec)
    barrier = threading.Barrier(8)

    def accept(_: int) -> int:
        barrier.wait()
        return api.client.post(f"/referrals/{rid}/accept", headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(accept, range(8)))
    assert codes == [200] + [409] * 7, codes
    detail = api.get(f"/referrals/{rid}", clin).json()
    assert [e["action"] for e in detail["history"]].count("accept") == 1
    assert [d["decision"] for d in detail["decisions"]].count("accepted") == 1


def test_fifty_concurrent_bookings_of_one_slot_book_exactly_one(api) -> None:  # type: ignore[no-untyped-def]
    """Fifty accepted referrals, one practitioner's slot, all scheduled at the same moment:
    exactly one Appointment, forty-nine clear conflicts (409)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    clin, spec = api.user("clinician", "R1-C1"), api.user("specialist", "R1-T1")
    target = {"practitioner_id": practitioner_id("R1-T1", 2), "institution_id": "R1-T1"}
    rids = []
    for _ in range(50):
        rid = api.post("/referrals", clin, {"patient_id": patient_id("R1-C1", 5), **REFERRAL}
                       ).json()["id"]
        assert api.post(f"/referrals/{rid}/choose", clin, target).status_code == 200
        assert api.post(f"/referrals/{rid}/accept", spec).status_code == 200
        rids.append(rid)
    headers = api.headers(spec)
    slot = {"start": "2031-03-03T01:30:00Z", "minutes": 30}
    barrier = threading.Barrier(50)

    def schedule(rid: str) -> tuple[int, str]:
        barrier.wait()
        r = api.client.post(f"/referrals/{rid}/schedule", headers=headers, json=slot)
        return r.status_code, r.text

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(schedule, rids))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] + [409] * 49, [a for a in answers if a[0] not in (200, 409)][:2]
    assert all("Slot taken" in text for code, text in answers if code == 409)
    statuses = [api.get(f"/referrals/{rid}", clin).json()["business_status"] for rid in rids]
    assert len([s for s in statuses if s != "accepted"]) == 1  # the other 49 wait as before
