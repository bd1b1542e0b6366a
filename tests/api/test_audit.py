"""Every read or write of patient data writes one AuditEvent (who, what, when, where from,
outcome), denied attempts included; supervisors query them."""

from __future__ import annotations

from tests.api.conftest import patient_id, practitioner_id


def _events(api, **params):  # type: ignore[no-untyped-def]
    return api.get("/supervision/audit", api.user("admin", "R1-T1"),
                   params={"limit": 100, **params}).json()["items"]


def test_each_access_writes_one_event(api) -> None:  # type: ignore[no-untyped-def]
    clin, spec = api.user("clinician", "R1-C2"), api.user("specialist", "R1-T1")
    rid = api.post("/referrals", clin, {"patient_id": patient_id("R1-C2", 3),
                                        "diagnosis_code": "K35.8", "urgency": "urgent",
                                        "reason": "appendicitis?"}).json()["id"]
    assert [e["subtype"] for e in _events(api, entity_id=rid)] == ["referral.create"]
    api.get(f"/referrals/{rid}", clin)
    api.get(f"/fhir/Task/{rid}", clin)
    api.post(f"/referrals/{rid}/choose", clin, {"practitioner_id": practitioner_id("R1-T1", 3),
                                                "institution_id": "R1-T1"})
    api.post(f"/referrals/{rid}/accept", api.user("radiologist", "R1-T1"))  # denied
    api.post(f"/referrals/{rid}/accept", spec)
    events = list(reversed(_events(api, entity_id=rid)))
    assert [(e["subtype"], e["outcome"]) for e in events] == [
        ("referral.create", "0"), ("referral.read", "0"), ("fhir.read", "0"),
        ("referral.choose", "0"), ("access.denied", "4"), ("referral.accept", "0")]
    created, denied = events[0], events[4]
    assert (created["action"], created["actor_username"], created["actor_role"],
            created["actor_institution"]) == ("C", clin, "clinician", "R1-C2")
    assert created["patient_ref"] and created["source_ip"] and created["recorded"]
    assert created["method"] == "POST" and created["path"] == "/referrals"
    assert denied["actor_role"] == "radiologist" and denied["outcome_desc"].startswith("403")


def test_listing_patients_is_audited(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    api.get("/patients", clin)
    last = _events(api, entity_type="Patient", actor=clin)[0]
    assert last["subtype"] == "patient.list" and last["outcome"] == "0"


def test_supervisors_see_their_institution_only(api) -> None:  # type: ignore[no-untyped-def]
    sup = api.user("supervisor", "R1-T1")
    items = api.get("/supervision/audit", sup, params={"limit": 100}).json()["items"]
    assert items
    assert all("R1-T1" in (e["actor_institution"], e["entity_institution"]) for e in items)
    assert api.get("/supervision/audit", api.user("clinician", "R1-C1")).status_code == 403
    denied = _events(api, outcome="4", actor=api.user("clinician", "R1-C1"))
    assert denied and denied[0]["entity_type"] == "AuditEvent"
    page = api.get("/supervision/audit", api.user("admin", "R1-T1"), params={"limit": 2}).json()
    nxt = api.get("/supervision/audit", api.user("admin", "R1-T1"),
                  params={"limit": 2, "cursor": page["next"]}).json()
    assert {e["id"] for e in page["items"]}.isdisjoint({e["id"] for e in nxt["items"]})
