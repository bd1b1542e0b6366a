"""Each part-2 area's role checks (403) and cross-institution checks (404: a user of
another institution never gets a 200 for an object it is not a party to), and the
regional resource directory (search by everyone, administration by each institution's
admins, equipment schedules, FHIR PractitionerRole, Device and Medication)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import patient_id, practitioner_id
from tests.api.test_fhir import validate
from tests.api.test_part2_support import dicom_b64, ensure_user, user_id

SOON = datetime.now(UTC) + timedelta(days=5)


@pytest.fixture(scope="module")
def objs(api):  # type: ignore[no-untyped-def]
    """One object of each area owned by R1-C1 (and R1-T1 on the other side)."""
    c1, spec = api.user("clinician", "R1-C1"), api.user("specialist", "R1-T1")
    study = api.post("/imaging/studies", c1, {
        "patient_id": patient_id("R1-C1", 1), "reason": "cough for six weeks",
        "body_part": "CHEST", "instances": [dicom_b64("CT_small.dcm")]}).json()
    clinic = api.post("/joint-clinics", c1, {
        "patient_id": patient_id("R1-C1", 2), "specialist_institution": "R1-T1",
        "specialist_practitioner_id": practitioner_id("R1-T1", 3),
        "start": SOON.isoformat(), "reason": "diabetic foot"}).json()
    plan = api.post("/internet-clinic/plans", c1, {
        "patient_id": patient_id("R1-C1", 3), "condition": "asthma",
        "medications": ["R03AC02"]}).json()
    consult = api.post("/consults", c1, {"patient_id": patient_id("R1-C1", 4),
                                         "diagnosis_code": "J45.9", "mode": "async",
                                         "question": "step up to ICS/LABA? call 138-0013-8000"}
                       ).json()["id"]
    for action, user, body in (
            ("choose", c1, {"practitioner_id": practitioner_id("R1-T1", 1),
                            "institution_id": "R1-T1"}),
            ("accept", spec, None),
            ("opinion", spec, {"opinion": f"Yes: budesonide/formoterol for "
                                          f"{patient_id('R1-C1', 4)}, review 2026-12-20"})):
        assert api.post(f"/consults/{consult}/{action}", user, body).status_code == 200
    teacher = api.user("teacher", "R1-T1")
    course = api.post("/teaching/courses", teacher, {"title": "Asthma update",
                                                     "credits": 1}).json()
    session = api.post(f"/teaching/courses/{course['id']}/sessions", teacher,
                       {"start": SOON.isoformat()}).json()
    for o in (study, clinic, plan, course, session):
        assert "id" in o, o
    return {"study": study, "clinic": clinic, "plan": plan, "consult": consult,
            "course": course, "session": session, "c1": c1, "spec": spec,
            "c2": api.user("clinician", "R1-C2"), "spec2": api.user("specialist", "R2-T1"),
            "teacher": teacher, "teacher2": ensure_user(api, "teacher", "R2-T1"),
            "admin": api.user("admin", "R1-T1"), "admin_c1": ensure_user(api, "admin", "R1-C1"),
            "sched": api.user("scheduler", "R1-T1"), "sup": api.user("supervisor", "R1-T1")}


def test_imaging_roles_and_institutions(api, objs) -> None:
    sid = objs["study"]["id"]
    assert api.post("/imaging/studies", objs["sched"], {
        "patient_id": patient_id("R1-T1", 1), "reason": "role check",
        "instances": [dicom_b64("CT_small.dcm")]}).status_code == 403
    assert api.post("/imaging/studies", objs["c1"], {  # another site's patient
        "patient_id": patient_id("R1-C2", 1), "reason": "not ours",
        "instances": [dicom_b64("CT_small.dcm")]}).status_code == 404
    assert api.post("/imaging/studies", objs["c1"], {
        "patient_id": patient_id("R1-C1", 1), "reason": "garbage",
        "instances": ["bm90IGRpY29t"]}).status_code == 422
    for user in (objs["c2"], objs["spec2"]):
        assert api.get(f"/imaging/studies/{sid}", user).status_code == 404
        assert api.get(f"/fhir/ImagingStudy/{sid}", user).status_code == 404
        assert sid not in {s["id"] for s in api.get("/imaging/studies", user).json()["items"]}
    assert api.get(f"/imaging/studies/{sid}", objs["spec"]).status_code == 200  # reader side
    assert api.get(f"/imaging/studies/{sid}", objs["sup"]).status_code == 403
    assert api.get("/imaging/worklist", objs["c1"]).status_code == 403
    assert api.post(f"/imaging/studies/{sid}/report", objs["spec"], {
        "findings": "role check", "conclusion": "role check"}).status_code == 403
    assert api.post("/imaging/readers", objs["c1"], {"modalities": ["CT"]}).status_code == 403
    rad = api.user("radiologist", "R1-T1")
    assert api.post("/imaging/readers", objs["admin_c1"], {  # a radiologist elsewhere
        "user_id": user_id(api, rad), "modalities": ["CT"]}).status_code == 404


def test_joint_clinic_roles_and_institutions(api, objs) -> None:
    cid = objs["clinic"]["id"]
    body = {"patient_id": patient_id("R1-T1", 1), "specialist_institution": "R2-T1",
            "specialist_practitioner_id": practitioner_id("R2-T1", 1),
            "start": SOON.isoformat(), "reason": "role check"}
    assert api.post("/joint-clinics", objs["spec"], body).status_code == 403
    for user in (objs["c2"], objs["spec2"]):
        assert api.get(f"/joint-clinics/{cid}", user).status_code == 404
        assert api.post(f"/joint-clinics/{cid}/start", user).status_code == 404
        assert api.post(f"/joint-clinics/{cid}/notes", user, {"text": "x"}).status_code == 404
    assert api.post(f"/joint-clinics/{cid}/start", objs["sched"]).status_code == 403
    assert api.get(f"/joint-clinics/{cid}", objs["sup"]).status_code == 403
    assert api.post(f"/joint-clinics/{cid}/notes", objs["c1"], {"text": "early"}
                    ).status_code == 409  # not started yet
    assert api.get(f"/joint-clinics/{cid}", objs["spec"]).status_code == 200


def test_internet_clinic_roles_and_institutions(api, objs) -> None:
    pid = objs["plan"]["id"]
    assert api.post("/internet-clinic/plans", objs["sched"], {
        "patient_id": patient_id("R1-T1", 1), "condition": "copd"}).status_code == 403
    assert api.post("/internet-clinic/plans", objs["c1"], {
        "patient_id": patient_id("R1-C2", 1), "condition": "copd"}).status_code == 404
    for user in (objs["c2"], objs["spec"]):
        assert api.get(f"/internet-clinic/plans/{pid}", user).status_code == 404
        assert api.post(f"/internet-clinic/plans/{pid}/visits", user, {
            "mode": "online", "at": SOON.isoformat()}).status_code == 404
        assert api.post("/internet-clinic/renewals", user, {
            "plan_id": pid, "medication_code": "R03AC02", "days": 30}).status_code == 404
        assert pid not in {p["id"] for p in api.get("/internet-clinic/plans",
                                                    user).json()["items"]}
    assert api.get("/internet-clinic/reminders", objs["sup"]).status_code == 403
    # no in-person visit ever, not on the plan, not an asthma medicine, too long
    r = api.post("/internet-clinic/renewals", objs["c1"], {
        "plan_id": pid, "medication_code": "C09AA05", "days": 120})
    assert r.status_code == 201 and r.json()["decision"] == "refused"
    assert len(r.json()["reasons"]) == 4, r.json()["reasons"]


def test_teaching_roles_and_institutions(api, objs) -> None:
    cid, sid = objs["course"]["id"], objs["session"]["id"]
    assert api.post("/teaching/courses", objs["c1"], {"title": "mine", "credits": 1}
                    ).status_code == 403
    teacher2 = objs["teacher2"]
    assert api.post(f"/teaching/courses/{cid}/sessions", teacher2,
                    {"start": SOON.isoformat()}).status_code == 403
    assert api.post(f"/teaching/sessions/{sid}/start", teacher2).status_code == 403
    assert api.post(f"/teaching/sessions/{sid}/attendance", teacher2, {
        "user_ids": [user_id(api, objs["c1"])], "minutes": 10}).status_code == 403
    assert api.post(f"/teaching/courses/{cid}/enrol", objs["sup"]).status_code == 403
    # learners of every institution may enrol: teaching is regional
    assert api.post(f"/teaching/courses/{cid}/enrol", objs["spec2"]).status_code == 200
    assert api.post(f"/teaching/sessions/{sid}/join", objs["c2"], {
        "network_type": "4G", "bandwidth_kbps": 5000, "rtt_ms": 50, "loss_pct": 0}
    ).status_code == 403  # not enrolled
    assert api.post(f"/teaching/sessions/{sid}/attendance", objs["teacher"], {
        "user_ids": [user_id(api, objs["c2"])], "minutes": 10}).status_code == 409


def test_case_library_is_consented_and_deidentified(api, objs) -> None:
    consult = objs["consult"]
    body = {"consult_id": consult, "consent_reference": "Consent/77",
            "title": "Asthma step-up", "tags": ["Asthma"]}
    assert api.post("/teaching/cases", objs["c2"], body).status_code == 404
    assert api.post("/teaching/cases", objs["spec"], body).status_code == 404  # not holder
    assert api.post("/teaching/cases", objs["sched"], body).status_code == 403
    assert api.post("/teaching/cases", objs["c1"], {**body, "consent_reference": ""}
                    ).status_code == 422
    r = api.post("/teaching/cases", objs["c1"], body)
    assert r.status_code == 201, r.text
    case = r.json()
    text = case["question"] + case["opinion"]
    assert patient_id("R1-C1", 4) not in text and "2026-12-20" not in text
    assert "138-0013-8000" not in text and "[patient]" in text
    assert "patient_ref" not in case and "source_consult_id" not in case
    assert api.post("/teaching/cases", objs["c1"], body).status_code == 409
    found = api.get("/teaching/cases", objs["teacher2"], params={"diagnosis": "J45"}).json()
    assert [c["id"] for c in found["items"]] == [case["id"]]


def test_directory_search_and_administration(api, objs) -> None:
    admin, admin_c1, c1 = objs["admin"], objs["admin_c1"], objs["c1"]
    tertiary = api.get("/directory/institutions", c1, params={"tier": 3}).json()
    assert [i["id"] for i in tertiary] == ["R1-T1", "R2-T1"]
    # names and region names: the console shows these instead of codes
    assert [i["name"] for i in tertiary] == ["Binjiang Central Hospital", "Xishan Central Hospital"]
    assert tertiary[0]["region"] == "R1" and tertiary[0]["region_name_en"] == "Binjiang"
    everyone = api.get("/directory/institutions", c1, params={"limit": 1000})
    assert everyone.status_code == 200 and len(everyone.json()) == 5
    assert api.get("/directory/institutions", c1, params={"limit": 1001}).status_code == 422
    cardio = api.get("/directory/practitioners", c1, params={"specialty": "cardiology",
                                                             "institution": "R1-T1"}).json()
    assert [p["id"] for p in cardio] == [practitioner_id("R1-T1", 1)]
    assert api.post("/directory/equipment", c1, {"modality": "CT", "name": "CT 1"}
                    ).status_code == 403
    dep = api.post("/directory/departments", admin, {"name": "Radiology"}).json()
    mri = api.post("/directory/equipment", admin, {"modality": "MR", "name": "MRI 1.5T",
                                                   "department_id": dep["id"]})
    assert mri.status_code == 201 and mri.json()["institution_id"] == "R1-T1"
    assert api.post("/directory/equipment", admin_c1, {  # another institution's department
        "modality": "US", "name": "US 1", "department_id": dep["id"]}).status_code == 422
    us = api.post("/directory/equipment", admin_c1, {"modality": "US", "name": "US 1"}).json()
    found = api.get("/directory/equipment", c1, params={"modality": "MR"}).json()
    assert [e["id"] for e in found] == [mri.json()["id"]]
    slot = {"start": SOON.isoformat(), "minutes": 30, "purpose": "MRI knee"}
    book = f"/directory/equipment/{mri.json()['id']}/bookings"
    assert api.post(book, objs["sched"], slot).status_code == 201
    assert api.post(book, objs["sched"], {**slot, "minutes": 10}).status_code == 409
    assert api.post(book, objs["admin_c1"], slot).status_code == 404
    assert api.post(f"/directory/equipment/{us['id']}/bookings", objs["sched"],
                    slot).status_code == 404
    assert api.post(book, api.user("clinician", "R1-C1"), slot).status_code == 404
    assert len(api.get(book, c1).json()) == 1
    role = api.post("/directory/practitioner-roles", admin, {
        "practitioner_id": practitioner_id("R1-T1", 2), "code": "doctor",
        "specialty": "nephrology"})
    assert role.status_code == 201, role.text
    assert api.post("/directory/practitioner-roles", admin, {  # not one of ours
        "practitioner_id": practitioner_id("R2-T1", 2), "code": "doctor"}).status_code == 422
    neph = api.get("/directory/practitioners", c1, params={"specialty": "nephrology"}).json()
    assert [p["id"] for p in neph] == [practitioner_id("R1-T1", 2)]
    med = api.post("/directory/formulary", admin, {"code": "R03AK07", "name": "budesonide/"
                                                   "formoterol", "max_days": 60}).json()
    assert api.post("/directory/formulary", c1, {"code": "R03AK07", "name": "x y"}
                    ).status_code == 403
    assert [m["code"] for m in api.get("/directory/formulary", c1,
                                       params={"q": "budes"}).json()] == ["R03AK07"]
    for rtype, rid in (("PractitionerRole", role.json()["id"]),
                       ("PractitionerRole", f"role-{practitioner_id('R1-T1', 1)}"),
                       ("Device", mri.json()["id"]), ("Medication", med["id"])):
        r = api.get(f"/fhir/{rtype}/{rid}", c1)
        assert r.status_code == 200, r.text
        validate(r.json())
    assert api.get("/patients", c1).status_code == 200  # part 1's route is unchanged
