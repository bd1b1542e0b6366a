"""Remote joint outpatient clinic: a community doctor books a session with a specialist of
another institution for their patient; the specialist's time is booked as a FHIR
Appointment (no double booking of the specialist); the session is a virtual Encounter
whose video follows the policy of part 1 (``/telemedicine/encounters/{id}/...``); notes
written by either doctor go into the patient's record at the requesting institution.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.db import as_utc, utcnow
from collaboration_api.directory import service as directory
from collaboration_api.joint_clinic.models import JointClinic, SharedNote
from collaboration_api.joint_clinic.schemas import JointClinicCreate, NoteCreate
from collaboration_api.notifications.service import notify, users_at
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.schedule import service as schedule
from collaboration_api.schedule.models import Appointment
from collaboration_api.supervision import audit
from collaboration_api.telemedicine import service as telemedicine
from regioncare.settings import Settings

CLINICAL = ("clinician", "specialist")
ENTITY = "Appointment"


def _entity(c: JointClinic) -> dict:
    return {"entity_type": ENTITY, "entity_id": c.id, "patient_ref": c.patient_ref,
            "entity_institution": c.institution_id}


def book(*, db: Session, settings: Settings, caller: Caller,
         data: JointClinicCreate) -> JointClinic:
    if not caller.has_role("clinician"):
        audit.deny(db, caller, 403, "joint clinics are booked by the patient's clinician",
                   entity_type=ENTITY, action="C", entity_institution=caller.institution_id)
    patient = directory.own_patient(db, settings, caller, data.patient_id)
    if data.specialist_institution == caller.institution_id:
        raise Problem(422, "Same institution", "the specialist is at another institution")
    if not directory.practitioner_at(settings, data.specialist_institution,
                                     data.specialist_practitioner_id):
        raise Problem(422, "Unknown practitioner",
                      f"no practitioner {data.specialist_practitioner_id!r} at "
                      f"{data.specialist_institution}")
    taken = [(as_utc(a.start), as_utc(a.end)) for a in db.scalars(select(Appointment).where(
        Appointment.practitioner_id == data.specialist_practitioner_id,
        Appointment.status.in_(("booked", "arrived"))))]
    if data.start is None:
        start, minutes = scheduled_slot(settings, data, taken)
        data = data.model_copy(update={"start": start, "minutes": minutes})
    assert data.start is not None
    end = data.start + timedelta(minutes=data.minutes)
    for t_start, t_end in taken:
        if t_start < end and t_end > data.start:
            raise Problem(409, "Slot taken", f"{data.specialist_practitioner_id} is booked "
                                             f"{t_start:%Y-%m-%d %H:%M}Z")
    clinic = JointClinic(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                         requester_id=caller.id, patient_id=data.patient_id,
                         patient_ref=patient.pseudonym,
                         specialist_institution=data.specialist_institution,
                         specialist_practitioner_id=data.specialist_practitioner_id,
                         reason=data.reason, start=data.start, minutes=data.minutes,
                         status="booked", created_at=utcnow())
    appt = schedule.book(db, subject_type="joint-clinic", subject_id=clinic.id,
                         institution_id=data.specialist_institution,
                         requester_institution=caller.institution_id,
                         practitioner_id=data.specialist_practitioner_id,
                         patient_ref=patient.pseudonym, start=data.start,
                         minutes=data.minutes)
    clinic.appointment_id = appt.id
    db.add(clinic)
    audit.record(db, caller, action="C", subtype="joint-clinic.book", **_entity(clinic))
    notify(db, users_at(db, data.specialist_institution, ("specialist", "scheduler")),
           kind="joint-clinic.booked", subject_type="joint-clinic", subject_id=clinic.id,
           message=f"joint clinic with {caller.institution_id} at "
                   f"{data.start:%Y-%m-%d %H:%M}Z", exclude=caller.id)
    db.commit()
    return clinic


def scheduled_slot(settings: Settings, data: JointClinicCreate,
                   taken: list[tuple[datetime, datetime]]) -> tuple[datetime, int]:
    """The specialist's best free slot by the scheduler (``models.scheduling``): the
    specialist's free FHIR Slots from their institution's record store that no booked
    appointment overlaps, scored by ``suggest`` for a routine remote request."""
    from models.scheduling import Practitioner, Request, ScheduleState, suggest
    from models.scheduling import Problem as Plan
    from models.scheduling import Slot as PlanSlot

    now = utcnow()
    pid = data.specialist_practitioner_id
    free = []
    with directory._store(settings, data.specialist_institution) as store:
        for _rid, _t, body in store.iter_records("Slot"):
            rec = json.loads(body)
            if rec.get("practitioner") != pid or rec.get("status") != "free":
                continue
            start = as_utc(datetime.fromisoformat(rec["start"].replace("Z", "+00:00")))
            end = as_utc(datetime.fromisoformat(rec["end"].replace("Z", "+00:00")))
            if start > now and not any(s < end and e > start for s, e in taken):
                free.append(PlanSlot(id=rec["id"], practitioner=pid, start=start,
                                     minutes=int((end - start).total_seconds() // 60)))
    tier = {1: "community", 2: "secondary", 3: "tertiary"}[
        directory.institution_tier(data.specialist_institution)]
    request = Request(id="joint-clinic", specialty="joint-clinic", modality="remote",
                      urgency="routine", created=now)
    state = ScheduleState(Plan(requests=[request], slots=free, now=now, practitioners=[
        Practitioner(id=pid, institution=data.specialist_institution, tier=tier,
                     specialties=frozenset({"joint-clinic"}))]))
    found = suggest(state, request, k=1) if free else []
    if not found:
        raise Problem(409, "No free slot", f"{pid} has no free slot in the next two weeks")
    slot = next(s for s in free if s.id == found[0].slot_ids[0])
    return slot.start, slot.minutes


def _load(db: Session, caller: Caller, clinic_id: str, action: str = "R") -> JointClinic:
    clinic = db.get(JointClinic, clinic_id)
    if clinic is None or caller.institution_id not in (clinic.institution_id,
                                                       clinic.specialist_institution):
        audit.deny(db, caller, 404, f"no joint clinic {clinic_id}", entity_type=ENTITY,
                   entity_id=clinic_id, action=action)
    if not caller.has_role(*CLINICAL, "scheduler"):
        audit.deny(db, caller, 403, f"a {caller.role} does not take part in joint clinics",
                   action=action, **_entity(clinic))
    return clinic


def get(*, db: Session, caller: Caller, clinic_id: str) -> tuple[JointClinic, list[SharedNote]]:
    clinic = _load(db, caller, clinic_id)
    notes = list(db.scalars(select(SharedNote).where(SharedNote.clinic_id == clinic.id)
                            .order_by(SharedNote.id)))
    audit.record(db, caller, action="R", subtype="joint-clinic.read", **_entity(clinic))
    db.commit()
    return clinic, notes


def list_clinics(*, db: Session, caller: Caller, cursor: str | None, limit: int
                 ) -> tuple[list[JointClinic], str | None]:
    if not caller.has_role(*CLINICAL, "scheduler"):
        audit.deny(db, caller, 403, f"a {caller.role} does not take part in joint clinics",
                   entity_type=ENTITY)
    inst = caller.institution_id
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(select(JointClinic).where(or_(
        JointClinic.institution_id == inst, JointClinic.specialist_institution == inst))
        .order_by(JointClinic.start.desc(), JointClinic.id).offset(offset).limit(limit + 1)))
    audit.record(db, caller, action="R", subtype="joint-clinic.list", entity_type=ENTITY,
                 entity_institution=inst, detail=f"{min(len(rows), limit)} listed")
    db.commit()
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def _doctor(db: Session, caller: Caller, clinic: JointClinic, action: str) -> None:
    """The community clinician of the requesting side or the specialist side's doctors."""
    ok = (caller.institution_id == clinic.institution_id and caller.has_role("clinician")) or (
        caller.institution_id == clinic.specialist_institution
        and caller.has_role("specialist"))
    if not ok:
        audit.deny(db, caller, 403, "only the clinic's community clinician or specialist "
                                    f"may {action} it", action="U", **_entity(clinic))


def start(*, db: Session, caller: Caller, clinic_id: str) -> JointClinic:
    clinic = _load(db, caller, clinic_id, "U")
    _doctor(db, caller, clinic, "start")
    if clinic.status != "booked":
        audit.deny(db, caller, 409, f"the joint clinic is {clinic.status}", action="U",
                   title="Conflict", **_entity(clinic))
    enc = telemedicine.open_encounter(db, subject_type="joint-clinic", subject_id=clinic.id,
                                      institution_id=clinic.specialist_institution,
                                      requester_institution=clinic.institution_id,
                                      patient_ref=clinic.patient_ref, virtual=True)
    schedule.set_status(db, clinic.appointment_id, "arrived")
    clinic.encounter_id, clinic.status, clinic.started_at = enc.id, "in-progress", utcnow()
    audit.record(db, caller, action="U", subtype="joint-clinic.start", **_entity(clinic))
    _notify_other(db, caller, clinic, "joint-clinic.started", "the joint clinic has started")
    db.commit()
    return clinic


def finish(*, db: Session, caller: Caller, clinic_id: str) -> JointClinic:
    clinic = _load(db, caller, clinic_id, "U")
    _doctor(db, caller, clinic, "finish")
    if clinic.status != "in-progress":
        audit.deny(db, caller, 409, f"the joint clinic is {clinic.status}", action="U",
                   title="Conflict", **_entity(clinic))
    telemedicine.close_encounter(db, clinic.encounter_id)
    schedule.set_status(db, clinic.appointment_id, "fulfilled")
    clinic.status, clinic.ended_at = "finished", utcnow()
    audit.record(db, caller, action="U", subtype="joint-clinic.finish", **_entity(clinic))
    _notify_other(db, caller, clinic, "joint-clinic.finished", "the joint clinic is finished")
    db.commit()
    return clinic


def add_note(*, db: Session, caller: Caller, clinic_id: str, data: NoteCreate) -> SharedNote:
    """A shared note, filed in the patient's record at the requesting institution."""
    clinic = _load(db, caller, clinic_id, "C")
    _doctor(db, caller, clinic, "write notes in")
    if clinic.status not in ("in-progress", "finished"):
        audit.deny(db, caller, 409, "notes are written once the clinic has started",
                   action="C", title="Conflict", **_entity(clinic))
    note = SharedNote(clinic_id=clinic.id, patient_ref=clinic.patient_ref,
                      record_institution=clinic.institution_id, author_id=caller.id,
                      author_role=caller.role, author_institution=caller.institution_id,
                      text=data.text, at=utcnow())
    db.add(note)
    audit.record(db, caller, action="C", subtype="joint-clinic.note",
                 entity_type="DocumentReference", entity_id=clinic.id,
                 patient_ref=clinic.patient_ref, entity_institution=clinic.institution_id)
    _notify_other(db, caller, clinic, "joint-clinic.note", "a shared note was added")
    db.commit()
    return note


def _notify_other(db: Session, caller: Caller, clinic: JointClinic, kind: str,
                  message: str) -> None:
    if caller.institution_id == clinic.institution_id:
        recipients = users_at(db, clinic.specialist_institution, ("specialist",))
    else:
        recipients = [clinic.requester_id]
    notify(db, recipients, kind=kind, subject_type="joint-clinic", subject_id=clinic.id,
           message=f"joint clinic {clinic.id[:8]}: {message}", exclude=caller.id)
