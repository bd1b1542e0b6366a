"""Done when: one consultation through opinion and feedback over HTTP, the right role at
each step and a 403 for each wrong one; the live session negotiates its video profile."""

from __future__ import annotations

from tests.api.conftest import patient_id, practitioner_id

FIVE_G = {"network_type": "5G", "bandwidth_kbps": 60000, "rtt_ms": 25, "loss_pct": 0.1}


def test_live_consultation_through_opinion_and_feedback(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    expert = api.user("specialist", "R2-T1")
    sched = api.user("scheduler", "R2-T1")
    other_sched = api.user("scheduler", "R1-T1")
    body = {"patient_id": patient_id("R1-C1", 3), "diagnosis_code": "E11.9", "mode": "live",
            "question": "HbA1c 9.8 % on metformin: add SGLT2i or insulin?"}
    assert api.post("/consults", sched, body).status_code == 403
    assert api.post("/consults", api.user("data_scientist", "R1-T1"), body).status_code == 403
    r = api.post("/consults", clin, body, key="consult-1")
    assert r.status_code == 201, r.text
    cid = r.json()["id"]

    def step(action: str, user: str, payload: dict | None = None, status: int = 200) -> dict:
        r = api.post(f"/consults/{cid}/{action}", user, payload)
        assert r.status_code == status, (action, user, r.status_code, r.text)
        return r.json()

    # suggestions need serving (tests/api/test_recommendations.py): here the clinician picks
    choice = {"practitioner_id": practitioner_id("R2-T1", 2), "institution_id": "R2-T1"}
    step("choose", expert, choice, 404)
    assert step("choose", clin, choice)["expert_practitioner_name"] == "Dr R2-T1 2"
    step("accept", other_sched, None, 404)
    step("accept", clin, None, 403)
    step("opinion", expert, {"opinion": "too early"}, 409)
    step("accept", expert)
    step("opinion", expert, {"opinion": "a live consult needs its session first"}, 409)
    step("schedule", clin, {"start": "2026-12-02T06:00:00Z"}, 403)
    r = step("schedule", sched, {"start": "2026-12-02T06:00:00Z", "minutes": 20})
    assert r["business_status"] == "scheduled" and r["appointment_id"]
    session = api.get(f"/consults/{cid}", clin).json()["appointment"]  # the requester sees it
    assert (session["id"], session["start"], session["status"]) == (
        r["appointment_id"], "2026-12-02T06:00:00Z", "booked")
    assert session["end"] == "2026-12-02T06:20:00Z"
    listed = {c["id"]: c for c in api.get("/consults", clin).json()["items"]}
    assert listed[cid]["session_start"] == "2026-12-02T06:00:00Z"  # on the lists too
    assert r["session_start"] == "2026-12-02T06:00:00Z"  # and on the step's answer
    step("start", sched, None, 403)  # the expert opens the session
    r = step("start", expert)
    assert (r["status"], r["business_status"]) == ("in-progress", "in-session")
    enc = r["encounter_id"]

    # the video session: both join on 5G -> HD; the requester's link turns lossy -> down
    e = api.post(f"/telemedicine/encounters/{enc}/join", clin, FIVE_G).json()
    assert e["video_profile"] == "1080p"
    e = api.post(f"/telemedicine/encounters/{enc}/join", expert,
                 {**FIVE_G, "network_type": "wired"}).json()
    assert e["video_profile"] == "1080p"
    e = api.post(f"/telemedicine/encounters/{enc}/network", clin,
                 {**FIVE_G, "loss_pct": 3.0}).json()
    assert e["video_profile"] == "360p"
    e = api.post(f"/telemedicine/encounters/{enc}/force", expert, {"profile": "180p"}).json()
    assert e["video_profile"] == "180p"
    assert api.post(f"/telemedicine/encounters/{enc}/network", api.user("supervisor", "R1-T1"),
                    FIVE_G).status_code == 404
    assert api.post(f"/telemedicine/encounters/{enc}/network", api.user("admin", "R1-T1"),
                    FIVE_G).status_code == 404
    assert api.post(f"/telemedicine/encounters/{enc}/network", clin,
                    {**FIVE_G, "loss_pct": 140}).status_code == 422
    history = api.get(f"/telemedicine/encounters/{enc}", expert).json()["quality_history"]
    assert [h["profile"] for h in history] == ["1080p", "1080p", "360p", "180p"]

    # the expert's written opinion closes the session; feedback is the requester's
    step("opinion", sched, {"opinion": "not a scheduler's call"}, 403)
    step("opinion", clin, {"opinion": "not the requester's call"}, 403)
    r = step("opinion", expert, {"opinion": "Add empagliflozin 10 mg; HbA1c in 3 months."})
    assert r["business_status"] == "opinion-given" and r["opinion"].startswith("Add")
    assert api.get(f"/telemedicine/encounters/{enc}", clin).json()["status"] == "finished"
    assert api.post(f"/telemedicine/encounters/{enc}/network", clin, FIVE_G).status_code == 409
    step("feedback", expert, {"rating": 5}, 403)
    step("feedback", clin, {"rating": 9}, 422)
    r = step("feedback", clin, {"rating": 4, "feedback": "clear, actionable"})
    assert (r["status"], r["business_status"], r["rating"]) == ("completed", "closed", 4)
    detail = api.get(f"/consults/{cid}", expert).json()
    assert [e["action"] for e in detail["history"]] == [
        "create", "choose", "accept", "schedule", "start", "opinion", "feedback"]
    # the expert by name, in the detail, its decisions and the list
    assert detail["expert_practitioner_name"] == "Dr R2-T1 2"
    assert {d["practitioner_name"] for d in detail["decisions"]} == {"Dr R2-T1 2"}
    listed = api.get("/consults", clin).json()["items"]
    assert next(c for c in listed if c["id"] == cid)["expert_practitioner_name"] == "Dr R2-T1 2"
    kinds = {n["kind"] for n in api.get("/notifications", clin).json()["items"]
             if n["subject_id"] == cid}
    assert {"consult.accept", "consult.schedule", "consult.start", "consult.opinion"} <= kinds


def test_async_consultation_needs_no_session(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C2")
    expert = api.user("specialist", "R1-S1")
    cid = api.post("/consults", clin, {
        "patient_id": patient_id("R1-C2", 4), "diagnosis_code": "J45.9", "mode": "async",
        "question": "Step up asthma therapy?"}).json()["id"]
    api.post(f"/consults/{cid}/choose", clin, {"practitioner_id": practitioner_id("R1-S1", 1),
                                               "institution_id": "R1-S1"})
    assert api.post(f"/consults/{cid}/accept", expert).status_code == 200
    assert api.post(f"/consults/{cid}/schedule", expert,
                    {"start": "2026-12-02T06:00:00Z"}).status_code == 409
    assert api.post(f"/consults/{cid}/opinion", expert,
                    {"opinion": "Add a LABA."}).status_code == 200
    r = api.post(f"/consults/{cid}/feedback", clin, {"rating": 3})
    assert r.status_code == 200 and r.json()["business_status"] == "closed"
