"""Issue 9, done when: a scripted scenario over HTTP. A community site registers a study
from a real DICOM file; it is assigned (by modality, body part and load), read and
reported with a critical finding, and the requester is notified at once; a joint clinic
is booked and held; one renewal is allowed and another refused by the rules with the
reason; a course is attended and credited. FHIR exports of the new resources are valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import patient_id, practitioner_id
from tests.api.test_fhir import validate
from tests.api.test_part2_support import dicom_b64, ensure_user, notifications, user_id

NOW = datetime.now(UTC)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def people(api):  # type: ignore[no-untyped-def]
    """Two reading centres: R1-T1 reads CT and MR of head and chest, R2-T1 reads MR only."""
    rad1 = api.user("radiologist", "R1-T1")
    rad2 = ensure_user(api, "radiologist", "R2-T1")
    admin_c1 = ensure_user(api, "admin", "R1-C1")
    r = api.post("/imaging/readers", rad1, {"modalities": ["CT", "MR"],
                                            "body_parts": ["HEAD", "CHEST"]})
    assert r.status_code == 200, r.text
    r = api.post("/imaging/readers", rad2, {"modalities": ["MR"], "body_parts": []})
    assert r.status_code == 200, r.text
    return {"clin": api.user("clinician", "R1-C1"), "rad1": rad1, "rad2": rad2,
            "spec": api.user("specialist", "R1-T1"), "admin_c1": admin_c1,
            "teacher": api.user("teacher", "R1-T1"), "clin2": api.user("clinician", "R1-C2")}


def test_imaging_study_assigned_read_and_critical_finding_notified(api, people) -> None:
    clin, rad1, rad2 = people["clin"], people["rad1"], people["rad2"]
    r = api.post("/imaging/studies", clin, {
        "patient_id": patient_id("R1-C1", 1), "urgency": "emergency",
        "reason": "fall, head injury; rule out intracranial bleed", "body_part": "head",
        "instances": [dicom_b64("CT_small.dcm")]}, key="ct-1")
    assert r.status_code == 201, r.text
    ct = r.json()
    uid = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"  # from the file's header
    assert (ct["study_uid"], ct["modality"], ct["body_part"]) == (uid, "CT", "HEAD")
    assert (ct["series_count"], ct["instance_count"]) == (1, 1)
    assert ct["dicomweb_url"].endswith(f"/studies/{uid}")
    assert ct["status"] == "assigned" and ct["assignment"]["method"] == "scheduler"
    assert ct["reader_id"] == user_id(api, rad1)  # the only reader of CT
    # a retry of the POST with the same key registers nothing new
    again = api.post("/imaging/studies", clin, {
        "patient_id": patient_id("R1-C1", 1), "urgency": "emergency",
        "reason": "fall, head injury; rule out intracranial bleed", "body_part": "head",
        "instances": [dicom_b64("CT_small.dcm")]}, key="ct-1")
    assert again.json()["id"] == ct["id"]

    # An MR: both read it; R1-T1's reader already has a study open, so load sends it on.
    r = api.post("/imaging/studies", clin, {
        "patient_id": patient_id("R1-C1", 2), "urgency": "routine", "reason": "headache",
        "body_part": "HEAD", "instances": [dicom_b64("MR_small.dcm")]})
    assert r.status_code == 201, r.text
    mr = r.json()
    assert mr["reader_id"] == user_id(api, rad2) and mr["reader_institution"] == "R2-T1"
    # A knee CT: nobody reads it; it waits, registered, with the reason.
    r = api.post("/imaging/studies", clin, {
        "patient_id": patient_id("R1-C1", 3), "urgency": "routine", "reason": "knee pain",
        "body_part": "KNEE", "instances": [dicom_b64("CT_small.dcm")]})
    assert r.status_code == 201 and r.json()["status"] == "registered", r.text
    assert api.post(f"/imaging/studies/{r.json()['id']}/assign", clin).status_code == 409

    work = api.get("/imaging/worklist", rad1).json()
    assert [s["id"] for s in work] == [ct["id"]]
    assert [s["id"] for s in api.get("/imaging/worklist", rad2).json()] == [mr["id"]]
    assert api.post(f"/imaging/studies/{ct['id']}/report", rad2, {
        "findings": "not mine", "conclusion": "not mine"}).status_code == 404
    r = api.post(f"/imaging/studies/{ct['id']}/report", rad1, {
        "findings": "Acute left subdural haematoma, 9 mm; midline shift 4 mm.",
        "conclusion": "Acute SDH with mass effect: neurosurgery now.", "critical": True})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "reported" and done["report"]["critical"] is True
    assert done["turnaround_h"] is not None and done["turnaround_h"] >= 0
    critical = [n for n in notifications(api, clin)
                if n["kind"] == "imaging.critical" and n["subject_id"] == ct["id"]]
    assert len(critical) == 1 and "CRITICAL" in critical[0]["message"]
    assert api.post(f"/imaging/studies/{ct['id']}/report", rad1, {
        "findings": "again", "conclusion": "again"}).status_code == 409

    study = api.get(f"/fhir/ImagingStudy/{ct['id']}", clin).json()
    validate(study)
    assert (study["numberOfSeries"], study["numberOfInstances"]) == (1, 1)
    assert study["contained"][0]["address"] == ct["dicomweb_url"]
    report = api.get(f"/fhir/DiagnosticReport/{done['report']['id']}", rad1).json()
    validate(report)
    assert report["imagingStudy"][0]["reference"] == f"ImagingStudy/{ct['id']}"
    assert report["extension"][0]["valueBoolean"] is True


def test_joint_clinic_booked_and_held(api, people) -> None:
    clin, spec = people["clin"], people["spec"]
    start = (NOW + timedelta(days=3)).replace(microsecond=0)
    body = {"patient_id": patient_id("R1-C1", 4), "specialist_institution": "R1-T1",
            "specialist_practitioner_id": practitioner_id("R1-T1", 2), "start": iso(start),
            "minutes": 30, "reason": "resistant hypertension on three drugs"}
    r = api.post("/joint-clinics", clin, body)
    assert r.status_code == 201, r.text
    clinic = r.json()
    assert clinic["status"] == "booked" and clinic["appointment_id"]
    clash = {**body, "start": iso(start + timedelta(minutes=15))}
    assert api.post("/joint-clinics", clin, clash).status_code == 409
    r = api.post(f"/joint-clinics/{clinic['id']}/start", spec)
    assert r.status_code == 200 and r.json()["status"] == "in-progress", r.text
    enc = r.json()["encounter_id"]
    for user, net in ((clin, {"network_type": "4G", "bandwidth_kbps": 8000, "rtt_ms": 60,
                              "loss_pct": 0.5}),
                      (spec, {"network_type": "wired", "bandwidth_kbps": 90000,
                              "rtt_ms": 10, "loss_pct": 0.0})):
        j = api.post(f"/telemedicine/encounters/{enc}/join", user, net)
        assert j.status_code == 200, j.text
    assert j.json()["video_profile"] == "720p"  # 4G caps the session at 720p
    for user, text in ((spec, "Add spironolactone 25 mg; potassium in one week."),
                       (clin, "Patient agrees; community follow-up in 4 weeks.")):
        n = api.post(f"/joint-clinics/{clinic['id']}/notes", user, {"text": text})
        assert n.status_code == 201, n.text
        assert n.json()["record_institution"] == "R1-C1"
    r = api.post(f"/joint-clinics/{clinic['id']}/finish", clin)
    assert r.status_code == 200 and r.json()["status"] == "finished", r.text
    detail = api.get(f"/joint-clinics/{clinic['id']}", clin).json()
    assert [n["author_institution"] for n in detail["notes"]] == ["R1-T1", "R1-C1"]
    appt = api.get(f"/fhir/Appointment/{clinic['appointment_id']}", spec).json()
    validate(appt)
    assert appt["status"] == "fulfilled"
    encounter = api.get(f"/fhir/Encounter/{enc}", clin).json()
    validate(encounter)
    assert encounter["status"] == "finished" and encounter["class"]["code"] == "VR"


def test_renewal_allowed_and_refused_by_the_rules(api, people) -> None:
    clin, admin = people["clin"], people["admin_c1"]
    for code, name in (("C09AA05", "ramipril"), ("A10BA02", "metformin")):
        r = api.post("/directory/formulary", admin, {"code": code, "name": name,
                                                     "max_days": 90})
        assert r.status_code == 201, r.text
    hyper = api.post("/internet-clinic/plans", clin, {
        "patient_id": patient_id("R1-C1", 5), "condition": "hypertension",
        "medications": ["C09AA05"]}).json()
    r = api.post(f"/internet-clinic/plans/{hyper['id']}/visits", clin, {
        "mode": "in_person", "at": iso(NOW - timedelta(days=60)), "notes": "BP 138/86",
        "observations": [{"code": "bp-systolic", "value": 138, "unit": "mm[Hg]",
                          "at": iso(NOW - timedelta(days=10))}]})
    assert r.status_code == 201, r.text
    r = api.post("/internet-clinic/renewals", clin, {"plan_id": hyper["id"],
                                                     "medication_code": "C09AA05",
                                                     "days": 90})
    assert r.status_code == 201, r.text
    assert (r.json()["decision"], r.json()["reasons"]) == ("approved", [])

    diab = api.post("/internet-clinic/plans", clin, {
        "patient_id": patient_id("R1-C1", 6), "condition": "diabetes",
        "medications": ["A10BA02"]}).json()
    api.post(f"/internet-clinic/plans/{diab['id']}/visits", clin, {
        "mode": "in_person", "at": iso(NOW - timedelta(days=240))})
    api.post(f"/internet-clinic/plans/{diab['id']}/visits", clin, {
        "mode": "online", "at": iso(NOW - timedelta(days=20)),
        "observations": [{"code": "hba1c", "value": 7.1, "unit": "%",
                          "at": iso(NOW - timedelta(days=21))}]})
    r = api.post("/internet-clinic/renewals", clin, {"plan_id": diab["id"],
                                                     "medication_code": "A10BA02",
                                                     "days": 90})
    assert r.status_code == 201, r.text
    refused = r.json()
    assert refused["decision"] == "refused"
    assert refused["reasons"] == ["no in-person visit in the last 6 months (last: "
                                  f"{(NOW - timedelta(days=240)).date().isoformat()})"]
    detail = api.get(f"/internet-clinic/plans/{diab['id']}", clin).json()
    assert [o["code"] for o in detail["recent_observations"]] == ["hba1c"]
    assert len(detail["visits"]) == 2
    # 240 days after the in-person visit + 90-day interval: the online visit sets the due
    # date 70 days from now; nothing is due this week.
    assert diab["id"] not in {x["plan_id"] for x in api.get("/internet-clinic/reminders",
                                                            clin).json()}


def test_reminders_of_due_follow_ups(api, people) -> None:
    clin = people["clin"]
    plan = api.post("/internet-clinic/plans", clin, {
        "patient_id": patient_id("R1-C1", 7), "condition": "copd", "interval_days": 30}
    ).json()
    r = api.post(f"/internet-clinic/plans/{plan['id']}/visits", clin, {
        "mode": "online", "at": iso(NOW - timedelta(days=40))})
    assert r.status_code == 201
    due = api.post("/internet-clinic/reminders/send", clin).json()
    mine = [d for d in due if d["plan_id"] == plan["id"]]
    assert len(mine) == 1 and mine[0]["overdue_days"] == 10
    assert [n["kind"] for n in notifications(api, clin)
            if n["subject_id"] == plan["id"]] == ["internet-clinic.due"]
    again = api.post("/internet-clinic/reminders/send", clin).json()  # reminded once only
    assert plan["id"] in {d["plan_id"] for d in again}
    assert len([n for n in notifications(api, clin) if n["subject_id"] == plan["id"]]) == 1


def test_course_attended_and_credited(api, people) -> None:
    teacher, clin, clin2 = people["teacher"], people["clin"], people["clin2"]
    r = api.post("/teaching/courses", teacher, {"title": "Hypertension in primary care",
                                                "credits": 2.5, "min_sessions": 2})
    assert r.status_code == 201, r.text
    course = r.json()
    sessions = [api.post(f"/teaching/courses/{course['id']}/sessions", teacher, {
        "start": iso(NOW + timedelta(days=d)), "minutes": 60}).json() for d in (1, 8)]
    for learner in (clin, clin2):
        assert api.post(f"/teaching/courses/{course['id']}/enrol", learner).status_code == 200
    ids = {u: user_id(api, u) for u in (clin, clin2)}
    for n, s in enumerate(sessions):
        assert api.post(f"/teaching/sessions/{s['id']}/start", teacher).status_code == 200
        j = api.post(f"/teaching/sessions/{s['id']}/join", clin, {
            "network_type": "5G", "bandwidth_kbps": 40000, "rtt_ms": 25, "loss_pct": 0.1})
        assert j.status_code == 200 and j.json()["video_profile"] == "1080p", j.text
        present = [ids[clin]] + ([ids[clin2]] if n == 0 else [])
        r = api.post(f"/teaching/sessions/{s['id']}/attendance", teacher,
                     {"user_ids": present, "minutes": 55})
        assert r.status_code == 200, r.text
        assert api.post(f"/teaching/sessions/{s['id']}/end", teacher).status_code == 200
    mine = {e["course_id"]: e for e in api.get("/teaching/enrolments/me", clin).json()}
    assert mine[course["id"]]["sessions_attended"] == 2
    assert mine[course["id"]]["credits"] == 2.5 and mine[course["id"]]["credited_at"]
    theirs = {e["course_id"]: e for e in api.get("/teaching/enrolments/me", clin2).json()}
    assert theirs[course["id"]]["sessions_attended"] == 1
    assert theirs[course["id"]]["credits"] is None
    assert any(n["kind"] == "teaching.credited" for n in notifications(api, clin))


def test_joint_clinic_booked_by_the_scheduler(api, people, region_home) -> None:
    """Without a start time the scheduler books the specialist's best free slot."""
    from features.records import RecordStore, Slot

    pid = practitioner_id("R1-S1", 3)
    first = (NOW + timedelta(minutes=90)).replace(second=0, microsecond=0)
    first -= timedelta(minutes=first.minute % 30)
    with RecordStore.for_institution(region_home / "records", "R1-S1") as store:
        store.upsert_many([Slot(id="slot-p2-joint", organization="R1-S1",
                                schedule=f"sched-{pid}", practitioner=pid, start=iso(first),
                                end=iso(first + timedelta(minutes=30)), status="free")])
    body = {"patient_id": patient_id("R1-C1", 5), "specialist_institution": "R1-S1",
            "specialist_practitioner_id": pid, "reason": "COPD exacerbations"}
    r = api.post("/joint-clinics", people["clin"], body)
    assert r.status_code == 201, r.text
    assert r.json()["start"] == iso(first) and r.json()["minutes"] == 30
    again = api.post("/joint-clinics", people["clin"], body)  # that slot is taken now
    assert again.status_code in (201, 409)
    if again.status_code == 201:
        assert again.json()["start"] != iso(first)
