"""Remote imaging centre: register by reference -> assign a reader -> report.

A site registers a study from its DICOM files (metadata only; pixel data stays at the
origin behind a DICOMweb URL). The study is assigned at once to a radiologist of any
institution of the alliance by the specialist scheduler (``models.scheduling``): each
reader is a practitioner whose "specialties" are the modality/body-part pairs they read,
with 30-minute reading slots from now on, the studies they still have to read booked into
the first of them (their load). The scheduler's online ``suggest`` weighs urgency, waiting
and load. Readers who do not fit the request are never offered. The reader's report is a
DiagnosticReport; a critical finding notifies the requester at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.auth.models import User
from collaboration_api.db import as_utc, utcnow
from collaboration_api.directory import service as directory
from collaboration_api.imaging.dicom import read_study
from collaboration_api.imaging.models import ImagingReader, ImagingReport, ImagingStudy
from collaboration_api.imaging.schemas import ImagingStudyCreate, ReaderProfile, ReportCreate
from collaboration_api.notifications.service import notify, users_at
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.supervision import audit
from regioncare.settings import Settings

REQUESTERS = ("clinician", "specialist")
READERS = ("radiologist",)
URGENCY_RANK = {"emergency": 0, "urgent": 1, "routine": 2}
READING_SLOTS = 32  # 16 hours of 30-minute reading slots are offered per reader
DICOMWEB_BASE = "https://dicomweb.{institution}.regioncare.example/dicom-web"
TIER_NAMES = {1: "community", 2: "secondary", 3: "tertiary"}


def _deny(db: Session, caller: Caller, status: int, detail: str, *,
          study: ImagingStudy | None = None, study_id: str | None = None,
          action: str = "R") -> Any:
    audit.deny(db, caller, status, detail, entity_type="ImagingStudy",
               entity_id=study.id if study else study_id, action=action,
               patient_ref=study.patient_ref if study else None,
               entity_institution=study.institution_id if study else caller.institution_id)


def register_study(*, db: Session, settings: Settings, caller: Caller,
                   data: ImagingStudyCreate) -> ImagingStudy:
    """Register a study of a patient of the caller's institution and assign a reader."""
    if not caller.has_role(*REQUESTERS):
        _deny(db, caller, 403, f"a {caller.role} may not register studies", action="C")
    patient = directory.own_patient(db, settings, caller, data.patient_id)
    meta = read_study(data.instances)
    base = (data.origin_dicomweb_base or DICOMWEB_BASE.format(
        institution=caller.institution_id.lower())).rstrip("/")
    study = ImagingStudy(
        id=str(uuid.uuid4()), institution_id=caller.institution_id, requester_id=caller.id,
        patient_id=data.patient_id, patient_ref=patient.pseudonym,
        study_uid=meta["study_uid"], accession=meta["accession"], modality=meta["modality"],
        body_part=(meta["body_part"] or data.body_part or None),
        description=meta["description"], started=meta["started"],
        series_count=meta["series_count"], instance_count=meta["instance_count"],
        series=meta["series"], dicomweb_url=f"{base}/studies/{meta['study_uid']}",
        urgency=data.urgency, reason=data.reason, status="registered",
        registered_at=utcnow())
    if study.body_part:
        study.body_part = study.body_part.upper()
    db.add(study)
    db.flush()
    audit.record(db, caller, action="C", subtype="imaging.register", entity_type="ImagingStudy",
                 entity_id=study.id, patient_ref=study.patient_ref,
                 entity_institution=study.institution_id,
                 detail=f"{study.modality} {study.series_count} series, "
                        f"{study.instance_count} instances")
    _assign(db, caller, study)
    db.commit()
    return study


# --------------------------------------------------------------------------- assignment


def _profiles(db: Session) -> list[tuple[User, ImagingReader | None]]:
    users = db.scalars(select(User).where(User.role.in_(READERS), User.active.is_(True))
                       .order_by(User.id)).all()
    profiles = {p.user_id: p for p in db.scalars(select(ImagingReader))}
    return [(u, profiles.get(u.id)) for u in users
            if profiles.get(u.id) is None or profiles[u.id].active]


def _reads(profile: ImagingReader | None, modality: str, body_part: str | None) -> bool:
    if profile is None:
        return True
    mods = [m.upper() for m in profile.modalities or []]
    parts = [b.upper() for b in profile.body_parts or []]
    return (not mods or modality.upper() in mods) and (
        not parts or (body_part or "").upper() in parts)


def open_load(db: Session) -> dict[str, int]:
    """Studies each reader still has to read."""
    load: dict[str, int] = {}
    for reader in db.scalars(select(ImagingStudy.reader_id).where(
            ImagingStudy.status == "assigned")):
        load[reader] = load.get(reader, 0) + 1
    return load


def choose_reader(db: Session, study: ImagingStudy, now: datetime | None = None
                  ) -> dict[str, Any] | None:
    """``{reader_id, institution, method, score, reasons, load}`` or None (nobody reads
    this modality and body part)."""
    from models.scheduling import Practitioner, Problem, Request, ScheduleState, Slot, suggest

    now = now or utcnow()
    key = f"{study.modality.upper()}|{(study.body_part or 'ANY').upper()}"
    fits = [(u, p) for u, p in _profiles(db) if _reads(p, study.modality, study.body_part)]
    if not fits:
        return None
    load = open_load(db)
    first = (now + timedelta(minutes=30)).replace(second=0, microsecond=0)
    first -= timedelta(minutes=first.minute % 30)
    practitioners, slots = [], []
    for user, profile in fits:
        daily = profile.daily_max if profile else 16
        practitioners.append(Practitioner(
            id=user.id, institution=user.institution_id,
            tier=TIER_NAMES[directory.institution_tier(user.institution_id)],
            specialties=frozenset({key}), modalities=frozenset({"remote"}),
            daily_max_slots=daily))
        busy = load.get(user.id, 0)
        slots += [Slot(id=f"{user.id}#{k}", practitioner=user.id,
                       start=first + timedelta(minutes=30 * k), booked=int(k < busy))
                  for k in range(READING_SLOTS)]
    request = Request(id=study.id, specialty=key, modality="remote", urgency=study.urgency,
                      created=now)
    state = ScheduleState(Problem(requests=[request], practitioners=practitioners,
                                  slots=slots, now=now))
    found = suggest(state, request, k=1)
    if found:
        best = found[0]
        return {"reader_id": best.practitioner_id, "institution": best.institution,
                "method": "scheduler", "score": best.score, "reasons": list(best.reasons),
                "load": load.get(best.practitioner_id, 0), "candidates": len(fits)}
    # Every reading slot is taken: the least loaded reader who fits (ties: lowest id).
    user, _ = min(fits, key=lambda f: (load.get(f[0].id, 0), f[0].id))
    return {"reader_id": user.id, "institution": user.institution_id, "method": "load",
            "score": None, "reasons": ["no free reading slot: least loaded reader"],
            "load": load.get(user.id, 0), "candidates": len(fits)}


def _assign(db: Session, caller: Caller, study: ImagingStudy) -> bool:
    choice = choose_reader(db, study)
    if choice is None:
        study.assignment = {"method": None, "reasons": [
            f"no radiologist reads {study.modality} {study.body_part or ''}".strip()]}
        return False
    study.reader_id, study.reader_institution = choice["reader_id"], choice["institution"]
    study.status, study.assigned_at = "assigned", utcnow()
    study.assignment = {k: choice[k] for k in ("method", "score", "reasons", "load",
                                               "candidates")}
    audit.record(db, caller, action="U", subtype="imaging.assign", entity_type="ImagingStudy",
                 entity_id=study.id, patient_ref=study.patient_ref,
                 entity_institution=study.institution_id,
                 detail=f"reader {study.reader_id} at {study.reader_institution} "
                        f"({choice['method']})")
    notify(db, [study.reader_id], kind="imaging.assigned", subject_type="imaging",
           subject_id=study.id, message=f"{study.urgency} {study.modality} study "
                                        f"{study.id[:8]} from {study.institution_id} to read")
    return True


def reassign(*, db: Session, caller: Caller, study_id: str) -> ImagingStudy:
    """Try again to assign a study nobody could read yet (after readers were added)."""
    study = _load(db, caller, study_id, action="U")
    if caller.institution_id != study.institution_id or not caller.has_role(
            *REQUESTERS, "scheduler"):
        _deny(db, caller, 403, "only the registering institution's clinicians or "
                               "schedulers assign its studies", study=study, action="U")
    if study.status != "registered":
        _deny(db, caller, 409, f"the study is already {study.status}", study=study,
              action="U")
    if not _assign(db, caller, study):
        db.commit()
        raise Problem(409, "No reader", study.assignment["reasons"][0])
    db.commit()
    return study


def set_reader_profile(*, db: Session, caller: Caller, data: ReaderProfile) -> ImagingReader:
    """A radiologist says what they read; an admin may say it for a radiologist of their
    own institution."""
    user_id = data.user_id or caller.id
    if caller.role == "radiologist" and user_id == caller.id:
        user = db.get(User, caller.id)
    elif caller.role == "admin":
        user = db.get(User, user_id)
        if user is None or user.institution_id != caller.institution_id:
            audit.deny(db, caller, 404, f"no user {user_id} at {caller.institution_id}",
                       entity_type="Practitioner", entity_id=user_id, action="U")
        if user.role != "radiologist":
            raise Problem(422, "Not a radiologist", f"{user.username} is a {user.role}")
    else:
        audit.deny(db, caller, 403, "only radiologists (their own) and admins set reading "
                                    "profiles", entity_type="Practitioner", action="U")
    assert user is not None
    row = db.get(ImagingReader, user.id) or ImagingReader(user_id=user.id)
    row.institution_id = user.institution_id
    row.modalities = [m.upper() for m in data.modalities]
    row.body_parts = [b.upper() for b in data.body_parts]
    row.daily_max, row.active = data.daily_max, True
    db.add(row)
    audit.record(db, caller, action="U", subtype="imaging.reader", entity_type="Practitioner",
                 entity_id=user.id, entity_institution=user.institution_id)
    db.commit()
    return row


# --------------------------------------------------------------------------- reading


def visible(caller: Caller, study: ImagingStudy) -> bool:
    return caller.institution_id in (study.institution_id, study.reader_institution)


def _load(db: Session, caller: Caller, study_id: str, *, action: str = "R") -> ImagingStudy:
    study = db.get(ImagingStudy, study_id)
    if study is None or not visible(caller, study):
        _deny(db, caller, 404, f"no imaging study {study_id}", study_id=study_id,
              action=action)
    return study


def get_study(*, db: Session, caller: Caller, study_id: str) -> ImagingStudy:
    study = _load(db, caller, study_id)
    if not caller.has_role(*REQUESTERS, *READERS, "scheduler"):
        _deny(db, caller, 403, f"a {caller.role} does not read imaging studies", study=study)
    audit.record(db, caller, action="R", subtype="imaging.read", entity_type="ImagingStudy",
                 entity_id=study.id, patient_ref=study.patient_ref,
                 entity_institution=study.institution_id)
    db.commit()
    return study


def report_of(db: Session, study_id: str) -> ImagingReport | None:
    return db.scalars(select(ImagingReport).where(ImagingReport.study_id == study_id)
                      .order_by(ImagingReport.issued.desc())).first()


def list_studies(*, db: Session, caller: Caller, status: str | None, cursor: str | None,
                 limit: int) -> tuple[list[ImagingStudy], str | None]:
    """Studies the caller's institution registered or reads, newest first."""
    if not caller.has_role(*REQUESTERS, *READERS, "scheduler"):
        _deny(db, caller, 403, f"a {caller.role} does not read imaging studies")
    inst = caller.institution_id
    stmt = select(ImagingStudy).where(or_(ImagingStudy.institution_id == inst,
                                          ImagingStudy.reader_institution == inst))
    if status:
        stmt = stmt.where(ImagingStudy.status == status)
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(stmt.order_by(ImagingStudy.registered_at.desc(), ImagingStudy.id)
                           .offset(offset).limit(limit + 1)))
    audit.record(db, caller, action="R", subtype="imaging.list", entity_type="ImagingStudy",
                 entity_institution=inst, detail=f"{min(len(rows), limit)} studies listed")
    db.commit()
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def worklist(*, db: Session, caller: Caller) -> list[ImagingStudy]:
    """The caller's studies to read: most urgent first, then oldest first."""
    if not caller.has_role(*READERS):
        _deny(db, caller, 403, "the reading worklist is for radiologists")
    rows = list(db.scalars(select(ImagingStudy).where(ImagingStudy.reader_id == caller.id,
                                                      ImagingStudy.status == "assigned")))
    rows.sort(key=lambda s: (URGENCY_RANK.get(s.urgency, 9), as_utc(s.registered_at)))
    audit.record(db, caller, action="R", subtype="imaging.worklist", entity_type="ImagingStudy",
                 entity_institution=caller.institution_id, detail=f"{len(rows)} to read")
    db.commit()
    return rows


def report(*, db: Session, caller: Caller, study_id: str, data: ReportCreate
           ) -> ImagingStudy:
    """The assigned reader's report; a critical finding notifies the requester at once."""
    study = _load(db, caller, study_id, action="C")
    if not caller.has_role(*READERS) or caller.id != study.reader_id:
        _deny(db, caller, 403, "only the radiologist the study is assigned to reports it",
              study=study, action="C")
    if study.status != "assigned":
        _deny(db, caller, 409, f"the study is {study.status}", study=study, action="C")
    now = utcnow()
    rep = ImagingReport(id=str(uuid.uuid4()), study_id=study.id, author_id=caller.id,
                        author_institution=caller.institution_id, findings=data.findings,
                        conclusion=data.conclusion, critical=data.critical, issued=now)
    db.add(rep)
    study.status, study.reported_at = "reported", now
    audit.record(db, caller, action="C", subtype="imaging.report",
                 entity_type="DiagnosticReport", entity_id=rep.id,
                 patient_ref=study.patient_ref, entity_institution=study.institution_id,
                 detail="critical finding" if data.critical else "")
    recipients = [study.requester_id]
    if data.critical:  # the requester and, in case they are away, their colleagues on duty
        recipients += users_at(db, study.institution_id, REQUESTERS)
    notify(db, recipients, kind="imaging.critical" if data.critical else "imaging.reported",
           subject_type="imaging", subject_id=study.id,
           message=(f"CRITICAL finding in {study.modality} study {study.id[:8]}: "
                    if data.critical else f"Report for {study.modality} study "
                                          f"{study.id[:8]}: ") + data.conclusion[:300],
           exclude=caller.id)
    db.commit()
    return study


def turnaround_h(study: ImagingStudy) -> float | None:
    if study.reported_at is None:
        return None
    return round((as_utc(study.reported_at) - as_utc(study.registered_at)
                  ).total_seconds() / 3600, 4)
