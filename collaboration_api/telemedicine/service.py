"""Encounters and their video sessions: reports in, a profile out, history kept."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from collaboration_api.auth.deps import Caller
from collaboration_api.db import utcnow
from collaboration_api.supervision import audit
from collaboration_api.telemedicine import policy
from collaboration_api.telemedicine.models import Encounter

PARTICIPANT_ROLES = ("clinician", "specialist", "scheduler", "radiologist", "teacher")


def open_encounter(db: Session, *, subject_type: str, subject_id: str, institution_id: str,
                   requester_institution: str, patient_ref: str, virtual: bool) -> Encounter:
    enc = Encounter(id=str(uuid.uuid4()), subject_type=subject_type, subject_id=subject_id,
                    institution_id=institution_id, requester_institution=requester_institution,
                    patient_ref=patient_ref, class_code="VR" if virtual else "AMB",
                    status="in-progress", period_start=utcnow(), video_state={},
                    quality_history=[])
    db.add(enc)
    return enc


def close_encounter(db: Session, encounter_id: str | None) -> None:
    if encounter_id:
        enc = db.get(Encounter, encounter_id)
        if enc is not None and enc.status != "finished":
            enc.status, enc.period_end = "finished", utcnow()


def load_encounter(db: Session, caller: Caller, encounter_id: str, *, action: str = "R"
                   ) -> Encounter:
    enc = db.get(Encounter, encounter_id)
    if enc is None or caller.institution_id not in (enc.institution_id,
                                                    enc.requester_institution):
        audit.deny(db, caller, 404, f"no encounter {encounter_id}", entity_type="Encounter",
                   entity_id=encounter_id, action=action)
    return enc


def _participant(db: Session, caller: Caller, enc: Encounter) -> None:
    if not caller.has_role(*PARTICIPANT_ROLES):
        audit.deny(db, caller, 403, f"a {caller.role} does not take part in video sessions",
                   entity_type="Encounter", entity_id=enc.id, action="U",
                   patient_ref=enc.patient_ref, entity_institution=enc.requester_institution)
    if enc.class_code != "VR" or enc.status != "in-progress":
        audit.deny(db, caller, 409, "the encounter has no live video session",
                   entity_type="Encounter", entity_id=enc.id, action="U",
                   title="Conflict", entity_institution=enc.requester_institution)


def report(db: Session, caller: Caller, *, encounter_id: str, sample: policy.NetworkReport,
           kind: str) -> Encounter:
    """A participant's network report (at join or periodically) -> the session profile."""
    enc = load_encounter(db, caller, encounter_id, action="U")
    _participant(db, caller, enc)
    session = policy.SessionPolicy.from_state(enc.video_state or {})
    before = session.profile()
    session.report(caller.id, sample)
    after = session.profile()
    _remember(enc, session, caller, kind=kind, before=before, after=after,
              report=sample.model_dump())
    audit.record(db, caller, action="U", subtype=f"encounter.video.{kind}",
                 entity_type="Encounter", entity_id=enc.id, patient_ref=enc.patient_ref,
                 entity_institution=enc.requester_institution, detail=f"profile {after}")
    db.commit()
    return enc


def force(db: Session, caller: Caller, *, encounter_id: str, profile: str | None) -> Encounter:
    """A participant caps the session at a lower profile (None lifts their cap)."""
    enc = load_encounter(db, caller, encounter_id, action="U")
    _participant(db, caller, enc)
    session = policy.SessionPolicy.from_state(enc.video_state or {})
    before = session.profile()
    session.force(caller.id, profile)
    after = session.profile()
    _remember(enc, session, caller, kind="force", before=before, after=after,
              report={"forced": profile})
    audit.record(db, caller, action="U", subtype="encounter.video.force",
                 entity_type="Encounter", entity_id=enc.id, patient_ref=enc.patient_ref,
                 entity_institution=enc.requester_institution, detail=f"profile {after}")
    db.commit()
    return enc


def _remember(enc: Encounter, session: policy.SessionPolicy, caller: Caller, *, kind: str,
              before: str, after: str, report: dict[str, Any]) -> None:
    enc.video_state = session.to_state()
    enc.video_profile = after
    history = list(enc.quality_history or [])
    history.append({"at": utcnow().isoformat(), "user_id": caller.id, "kind": kind,
                    "report": report, "profile": after, "changed": before != after,
                    "reason": session.last_reason})
    enc.quality_history = history
    flag_modified(enc, "video_state")
    flag_modified(enc, "quality_history")
