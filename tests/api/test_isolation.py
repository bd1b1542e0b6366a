"""Done when: users of institution A using ids of institution B's objects never get a 200
(nor a 201): every route, every role of A; and each attempt is audited as denied."""

from __future__ import annotations

import pytest

from tests.api.conftest import patient_id, practitioner_id

FIVE_G = {"network_type": "5G", "bandwidth_kbps": 60000, "rtt_ms": 25, "loss_pct": 0.1}


@pytest.fixture(scope="module")
def b_objects(api):  # type: ignore[no-untyped-def]
    """A referral and a live consultation between R1-C2 and R2-T1, with their
    appointment and encounter: none of them is R1-C1's or R1-T1's business."""
    clin, spec = api.user("clinician", "R1-C2"), api.user("specialist", "R2-T1")
    sched = api.user("scheduler", "R2-T1")
    rid = api.post("/referrals", clin, {"patient_id": patient_id("R1-C2", 5),
                                        "diagnosis_code": "I10", "urgency": "routine",
                                        "reason": "resistant hypertension"}).json()["id"]
    target = {"practitioner_id": practitioner_id("R2-T1", 1), "institution_id": "R2-T1"}
    api.post(f"/referrals/{rid}/choose", clin, target)
    api.post(f"/referrals/{rid}/accept", spec)
    appt = api.post(f"/referrals/{rid}/schedule", sched,
                    {"start": "2026-12-03T01:00:00Z"}).json()["appointment_id"]
    cid = api.post("/consults", clin, {"patient_id": patient_id("R1-C2", 5),
                                       "diagnosis_code": "I10", "mode": "live",
                                       "question": "second opinion?"}).json()["id"]
    api.post(f"/consults/{cid}/choose", clin, target)
    api.post(f"/consults/{cid}/accept", spec)
    api.post(f"/consults/{cid}/schedule", sched, {"start": "2026-12-03T02:00:00Z"})
    enc = api.post(f"/consults/{cid}/start", spec).json()["encounter_id"]
    assert rid and appt and cid and enc
    own_audit = api.get("/supervision/audit", api.user("admin", "R1-T1"),
                        params={"entity_id": rid}).json()["items"][0]["id"]
    return {"referral": rid, "appointment": appt, "consult": cid, "encounter": enc,
            "audit": own_audit}


def attempts(ids: dict[str, str]) -> list[tuple[str, str, dict | None]]:
    r, c, e, a = ids["referral"], ids["consult"], ids["encounter"], ids["appointment"]
    gets = [f"/referrals/{r}", f"/referrals/{r}/recommendations", f"/consults/{c}",
            f"/consults/{c}/suggestions", f"/telemedicine/encounters/{e}",
            f"/fhir/ServiceRequest/{r}", f"/fhir/Task/{r}", f"/fhir/ServiceRequest/{c}",
            f"/fhir/Task/{c}", f"/fhir/Appointment/{a}", f"/fhir/Encounter/{e}",
            f"/fhir/AuditEvent/{ids['audit']}"]
    choose = {"practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R1-T1"}
    posts = [(f"/referrals/{r}/{action}", body) for action, body in (
        ("choose", choose), ("accept", None), ("decline", {"reason": "not ours"}),
        ("schedule", {"start": "2026-12-04T01:00:00Z"}), ("arrive", None), ("complete", None),
        ("refer-back", {"discharge_summary": "xxx", "follow_up_plan": "yyy"}),
        ("close", None), ("cancel", None))]
    posts += [(f"/consults/{c}/{action}", body) for action, body in (
        ("choose", choose), ("accept", None), ("decline", {"reason": "not ours"}),
        ("schedule", {"start": "2026-12-04T01:00:00Z"}), ("start", None),
        ("opinion", {"opinion": "zzz"}), ("feedback", {"rating": 1}), ("cancel", None))]
    posts += [(f"/telemedicine/encounters/{e}/join", FIVE_G),
              (f"/telemedicine/encounters/{e}/network", FIVE_G),
              (f"/telemedicine/encounters/{e}/force", {"profile": "180p"})]
    return [("GET", p, None) for p in gets] + [("POST", p, b) for p, b in posts]


def test_other_institutions_never_get_a_200(api, b_objects) -> None:  # type: ignore[no-untyped-def]
    outsiders = [name for name, acc in api.accounts.items()
                 if acc["institution"] in ("R1-C1", "R1-T1")]
    assert {api.accounts[u]["role"] for u in outsiders} == {
        "clinician", "specialist", "scheduler", "radiologist", "teacher", "supervisor",
        "data_scientist", "admin"}
    for user in outsiders:
        for method, path, body in attempts(b_objects):
            if api.accounts[user]["role"] == "admin" and "/AuditEvent/" in path:
                continue  # the alliance's admin reads the whole audit trail, by design
            r = (api.get(path, user) if method == "GET" else api.post(path, user, body))
            assert r.status_code in (403, 404), (user, method, path, r.status_code, r.text)
    # and the objects are untouched
    clin = api.user("clinician", "R1-C2")
    assert api.get(f"/referrals/{b_objects['referral']}", clin).json()[
        "business_status"] == "scheduled"


def test_patients_are_listed_for_the_callers_institution_only(api) -> None:  # type: ignore[no-untyped-def]
    page = api.get("/patients", api.user("clinician", "R1-C1"), params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["next"]
    rest = api.get("/patients", api.user("clinician", "R1-C1"),
                   params={"limit": 200, "cursor": page["next"]}).json()
    ids = [p["id"] for p in page["items"] + rest["items"]]
    assert len(ids) == len(set(ids)) == 7
    assert {p["institution_id"] for p in page["items"] + rest["items"]} == {"R1-C1"}
    assert api.get("/patients", api.user("data_scientist", "R1-T1")).status_code == 403
    # a patient id of another institution is unknown here
    r = api.post("/referrals", api.user("clinician", "R1-C1"), {
        "patient_id": patient_id("R1-C2", 1), "diagnosis_code": "I10", "urgency": "routine",
        "reason": "x"})
    assert r.status_code == 404


def test_denials_are_audited(api, b_objects) -> None:  # type: ignore[no-untyped-def]
    sup = api.user("supervisor", "R1-T1")
    denied = api.get("/supervision/audit", sup, params={"outcome": "4", "limit": 100}).json()
    assert denied["items"], "the outsiders' attempts were recorded"
    e = denied["items"][0]
    assert e["actor_institution"] in ("R1-C1", "R1-T1") and e["subtype"] == "access.denied"
    assert e["source_ip"] and e["path"] and e["recorded"]
