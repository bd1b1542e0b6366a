"""FHIR R4 export, validated against the R4B (4.3.0) models of fhir.resources 8.3.0 (the
package ships R5 as default, R4B and STU3, no plain R4; R4B keeps R4's structure for all of
these resources) and against R4's required value sets, which the models do not check."""

from __future__ import annotations

import importlib

import pytest

from tests.api.conftest import patient_id, practitioner_id

# Required bindings of FHIR R4 (hl7.org/fhir/R4), which the models leave unchecked.
REQUIRED = {
    "ServiceRequest": {"status": {"draft", "active", "on-hold", "revoked", "completed",
                                  "entered-in-error", "unknown"},
                       "intent": {"proposal", "plan", "directive", "order", "original-order",
                                  "reflex-order", "filler-order", "instance-order", "option"},
                       "priority": {"routine", "urgent", "asap", "stat"}},
    "Task": {"status": {"draft", "requested", "received", "accepted", "rejected", "ready",
                        "cancelled", "in-progress", "on-hold", "failed", "completed",
                        "entered-in-error"},
             "intent": {"unknown", "proposal", "plan", "order", "original-order",
                        "reflex-order", "filler-order", "instance-order", "option"}},
    "Appointment": {"status": {"proposed", "pending", "booked", "arrived", "fulfilled",
                               "cancelled", "noshow", "entered-in-error", "checked-in",
                               "waitlist"}},
    "Encounter": {"status": {"planned", "arrived", "triaged", "in-progress", "onleave",
                             "finished", "cancelled", "entered-in-error", "unknown"}},
    "Slot": {"status": {"busy", "free", "busy-unavailable", "busy-tentative",
                        "entered-in-error"}},
    "AuditEvent": {"action": {"C", "R", "U", "D", "E"}, "outcome": {"0", "4", "8", "12"}},
    "Practitioner": {"gender": {"male", "female", "other", "unknown"}},
}


def validate(resource: dict) -> None:
    rtype = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{rtype.lower()}")
    model = getattr(module, rtype)
    parsed = model.model_validate(resource)  # structure, cardinality, types; no extras
    assert parsed.id == resource["id"]
    for element, allowed in REQUIRED.get(rtype, {}).items():
        if element in resource:
            assert resource[element] in allowed, (rtype, element, resource[element])


@pytest.fixture(scope="module")
def ids(api):  # type: ignore[no-untyped-def]
    clin, spec = api.user("clinician", "R1-C1"), api.user("specialist", "R1-T1")
    sched = api.user("scheduler", "R1-T1")
    rid = api.post("/referrals", clin, {
        "patient_id": patient_id("R1-C1", 2), "diagnosis_code": "I50.9", "urgency": "emergency",
        "reason": "decompensated heart failure",
        "attachments": [{"reference": "DiagnosticReport/bnp-1", "title": "BNP"}]}).json()["id"]
    target = {"practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R1-T1"}
    for action, user, body in (("choose", clin, target), ("accept", spec, None),
                               ("schedule", sched, {"start": "2026-12-05T01:00:00Z"}),
                               ("arrive", sched, None), ("complete", spec, None)):
        assert api.post(f"/referrals/{rid}/{action}", user, body).status_code == 200
    back = api.post(f"/referrals/{rid}/refer-back", spec, {
        "discharge_summary": "diuresed 4 kg", "follow_up_plan": "weigh daily"}).json()
    cid = api.post("/consults", clin, {"patient_id": patient_id("R1-C1", 2),
                                       "diagnosis_code": "I50.9", "mode": "live",
                                       "question": "ARNI?"}).json()["id"]
    api.post(f"/consults/{cid}/choose", clin, target)
    api.post(f"/consults/{cid}/accept", spec)
    api.post(f"/consults/{cid}/schedule", sched, {"start": "2026-12-05T03:00:00Z"})
    enc = api.post(f"/consults/{cid}/start", spec).json()["encounter_id"]
    api.post(f"/telemedicine/encounters/{enc}/join", clin, {
        "network_type": "4G", "bandwidth_kbps": 9000, "rtt_ms": 50, "loss_pct": 0.5})
    audit_id = api.get("/supervision/audit", api.user("supervisor", "R1-T1"),
                       params={"entity_id": rid}).json()["items"][0]["id"]
    return {"referral": rid, "consult": cid, "appointment": back["appointment_id"],
            "arrival": back["encounter_id"], "video": enc, "audit": audit_id}


def test_workflow_resources_are_valid_r4(api, ids) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    got = {}
    for rtype, rid in (("ServiceRequest", ids["referral"]), ("Task", ids["referral"]),
                       ("ServiceRequest", ids["consult"]), ("Task", ids["consult"]),
                       ("Appointment", ids["appointment"]), ("Encounter", ids["arrival"]),
                       ("Encounter", ids["video"])):
        r = api.get(f"/fhir/{rtype}/{rid}", clin)
        assert r.status_code == 200, (rtype, r.text)
        assert r.headers["content-type"].startswith("application/fhir+json")
        validate(r.json())
        got[(rtype, rid)] = r.json()
    task = got[("Task", ids["referral"])]
    assert task["status"] == "in-progress"
    assert task["businessStatus"]["text"] == "referred-back"
    assert task["focus"]["reference"] == f"ServiceRequest/{ids['referral']}"
    assert task["owner"]["reference"] == "Organization/R1-T1"
    sr = got[("ServiceRequest", ids["referral"])]
    assert sr["priority"] == "stat" and sr["reasonCode"][0]["coding"][0]["code"] == "I50.9"
    assert "name" not in str(sr["subject"])  # the patient travels as a pseudonym only
    video = got[("Encounter", ids["video"])]
    assert video["class"]["code"] == "VR"
    assert any(e["url"].endswith("video-quality-history") for e in video["extension"])


def test_directory_resources_are_valid_r4(api) -> None:  # type: ignore[no-untyped-def]
    user = api.user("teacher", "R1-T1")
    pid = practitioner_id("R2-T1", 1)
    for rtype, rid in (("Organization", "R2-T1"), ("Practitioner", pid),
                       ("Schedule", f"sched-{pid}"), ("Slot", f"slot-{pid}-1")):
        r = api.get(f"/fhir/{rtype}/{rid}", user)
        assert r.status_code == 200, (rtype, r.text)
        validate(r.json())
    assert api.get("/fhir/Practitioner/nobody", user).status_code == 404
    assert api.get("/fhir/Patient/x", user).status_code == 404
    assert api.get(f"/fhir/Practitioner/{pid}", None).status_code == 401


def test_audit_event_is_valid_r4_and_for_supervisors(api, ids) -> None:  # type: ignore[no-untyped-def]
    sup = api.user("supervisor", "R1-T1")
    r = api.get(f"/fhir/AuditEvent/{ids['audit']}", sup)
    assert r.status_code == 200, r.text
    validate(r.json())
    assert r.json()["agent"][0]["requestor"] is True
    assert api.get(f"/fhir/AuditEvent/{ids['audit']}",
                   api.user("specialist", "R1-T1")).status_code == 403
