"""Two-way referral: keyword-only service functions the routers call.

Up: create -> (recommendations) -> choose -> accept | decline (-> choose again) ->
schedule -> arrive -> complete. Down: refer-back with discharge summary and follow-up
plan -> the community closes the loop. Task.status and businessStatus follow FHIR.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.directory import service as directory
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.records import service as records
from collaboration_api.referral.models import RecommendationLog, Referral
from collaboration_api.referral.schemas import (
    RecommendationPage,
    ReferBack,
    ReferralCreate,
    ReferralRead,
)
from collaboration_api.schedule import service as schedule
from collaboration_api.serving_client import ServingClient, ServingUnavailable
from collaboration_api.supervision import audit
from collaboration_api.telemedicine import service as telemedicine
from collaboration_api.workflow import service as workflow
from collaboration_api.workflow.schemas import ChoosePractitioner, Decline, ScheduleVisit
from collaboration_api.workflow.service import CLINICAL, RECEIVING, Flow, Transition
from regioncare.settings import Settings
from serving.schemas import RecommendRequest

# Business states a referral reaches only after its specialist accepted it.
ACCEPTED_ONCE = ("accepted", "scheduled", "arrived", "completed", "referred-back", "closed")
OPEN = ("awaiting-choice", "awaiting-acceptance", "declined", "accepted", "scheduled")
FLOW = Flow(
    subject_type="referral", fhir_type="ServiceRequest", target_attr="target_institution_id",
    transitions={t.action: t for t in (
        Transition("choose", ("awaiting-choice", "declined"), "awaiting-acceptance", "origin",
                   CLINICAL),
        Transition("accept", ("awaiting-acceptance",), "accepted", "target", RECEIVING),
        Transition("decline", ("awaiting-acceptance",), "declined", "target", RECEIVING),
        Transition("schedule", ("accepted",), "scheduled", "target", RECEIVING),
        Transition("arrive", ("scheduled",), "arrived", "target", RECEIVING),
        Transition("complete", ("arrived",), "completed", "target", ("specialist",)),
        Transition("refer-back", ("completed",), "referred-back", "target", ("specialist",)),
        Transition("close", ("referred-back",), "closed", "origin", CLINICAL),
        Transition("cancel", OPEN, "cancelled", "origin", CLINICAL),
    )},
    task_status={"awaiting-choice": "draft", "awaiting-acceptance": "requested",
                 "declined": "rejected", "accepted": "accepted", "scheduled": "ready",
                 "arrived": "in-progress", "completed": "in-progress",
                 "referred-back": "in-progress", "closed": "completed",
                 "cancelled": "cancelled"},
)


def create_referral(*, db: Session, settings: Settings, caller: Caller,
                    data: ReferralCreate) -> Referral:
    """A referral for a patient of the caller's own institution."""
    if not caller.has_role(*CLINICAL):
        audit.deny(db, caller, 403, f"a {caller.role} may not create referrals",
                   entity_type="ServiceRequest", action="C",
                   entity_institution=caller.institution_id)
    patient = directory.own_patient(db, settings, caller, data.patient_id)
    referral = Referral(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                        patient_id=data.patient_id, patient_ref=patient.pseudonym,
                        diagnosis_code=data.diagnosis_code, urgency=data.urgency,
                        reason=data.reason, requester_id=caller.id,
                        attachments=[a.model_dump() for a in data.attachments],
                        status="draft", business_status="awaiting-choice")
    db.add(referral)
    db.flush()
    workflow.db_event(db, caller, FLOW, referral, "create")
    audit.record(db, caller, action="C", subtype="referral.create",
                 entity_type="ServiceRequest", entity_id=referral.id,
                 patient_ref=referral.patient_ref, entity_institution=caller.institution_id)
    db.commit()
    return referral


def list_referrals(*, db: Session, caller: Caller, side: str | None, business_status: str | None,
                   cursor: str | None, limit: int) -> tuple[list[Referral], str | None]:
    """Referrals the caller's institution sent or receives, newest first."""
    inst = caller.institution_id
    stmt = select(Referral)
    if side == "sent":
        stmt = stmt.where(Referral.institution_id == inst)
    elif side == "received":
        stmt = stmt.where(Referral.target_institution_id == inst)
    else:
        stmt = stmt.where(or_(Referral.institution_id == inst,
                              Referral.target_institution_id == inst))
    if business_status:
        stmt = stmt.where(Referral.business_status == business_status)
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(stmt.order_by(Referral.created_at.desc(), Referral.id)
                           .offset(offset).limit(limit + 1)))
    audit.record(db, caller, action="R", subtype="referral.list", entity_type="ServiceRequest",
                 entity_institution=inst, detail=f"{min(len(rows), limit)} referrals listed")
    db.commit()
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def get_referral(*, db: Session, caller: Caller, referral_id: str) -> Referral:
    referral = workflow.load_visible(db, caller, FLOW, Referral, referral_id)
    audit.record(db, caller, action="R", subtype="referral.read", entity_type="ServiceRequest",
                 entity_id=referral.id, patient_ref=referral.patient_ref,
                 entity_institution=referral.institution_id)
    db.commit()
    return referral


def named(settings: Settings, referral: Referral) -> ReferralRead:
    """The referral with its target practitioner's name from the directory (the task keeps
    the id only)."""
    read = ReferralRead.model_validate(referral)
    return read.model_copy(update={"target_practitioner_name": directory.practitioner_name(
        settings, read.target_institution_id, read.target_practitioner_id)})


def detail(*, db: Session, settings: Settings, referral: Referral) -> dict[str, Any]:
    from collaboration_api.schedule.models import Appointment

    return {**named(settings, referral).model_dump(),
            "history": workflow.history(db, "referral", referral.id),
            "decisions": directory.named_decisions(
                settings, workflow.decisions(db, "referral", referral.id)),
            "appointment": db.get(Appointment, referral.appointment_id)
            if referral.appointment_id else None}


def recommendations(*, db: Session, settings: Settings, serving: ServingClient, caller: Caller,
                    referral_id: str, k: int = 10, max_km: float | None = None,
                    request_id: str | None = None) -> RecommendationPage:
    referral = workflow.load_visible(db, caller, FLOW, Referral, referral_id)
    if FLOW.side_of(caller, referral) != "origin" or not caller.has_role(*CLINICAL):
        audit.deny(db, caller, 403, "only the requesting clinicians see the suggestions",
                   entity_type="ServiceRequest", entity_id=referral.id,
                   patient_ref=referral.patient_ref, entity_institution=referral.institution_id)
    req = RecommendRequest(patient_id=referral.patient_ref,
                           diagnosis_code=referral.diagnosis_code, urgency=referral.urgency,
                           origin_institution_id=referral.institution_id,
                           origin_tier=directory.institution_tier(referral.institution_id), k=k,
                           seen_practitioners=seen_practitioners(db, referral),
                           max_travel_km=max_km)
    try:
        result = serving.recommend(req, request_id=request_id)
    except ServingUnavailable as exc:
        raise Problem(503, "Recommender unavailable", str(exc)) from exc
    db.add(RecommendationLog(referral_id=referral.id, model_version=result.model_version,
                             degraded=result.degraded,
                             items=[i.model_dump(mode="json") for i in result.items],
                             shadow=result.shadow.model_dump() if result.shadow else None))
    audit.record(db, caller, action="E", subtype="referral.recommendations",
                 entity_type="ServiceRequest", entity_id=referral.id,
                 patient_ref=referral.patient_ref, entity_institution=referral.institution_id,
                 detail=f"model {result.model_version}, degraded={result.degraded}")
    db.commit()
    return RecommendationPage(referral_id=referral.id, model_version=result.model_version,
                              degraded=result.degraded,
                              items=directory.with_names(settings, result.items),
                              notes=result.notes, note_codes=result.note_codes)


def seen_practitioners(db: Session, referral: Referral, limit: int = 8) -> list[str]:
    """Specialists who accepted this patient's earlier referrals, most recent first: the
    continuity-of-care feature the ranker was trained with (MAX_SEEN in training)."""
    rows = db.execute(select(Referral.target_practitioner_id, func.max(Referral.updated_at))
                      .where(Referral.patient_ref == referral.patient_ref,
                             Referral.id != referral.id,
                             Referral.created_at <= referral.created_at,
                             Referral.target_practitioner_id.is_not(None),
                             Referral.business_status.in_(ACCEPTED_ONCE))
                      .group_by(Referral.target_practitioner_id)
                      .order_by(func.max(Referral.updated_at).desc()).limit(limit))
    return [str(r[0]) for r in rows]


def _suggestions(db: Session, referral_id: str) -> list[tuple[str | None, list[dict]]]:
    logs = db.scalars(select(RecommendationLog).where(
        RecommendationLog.referral_id == referral_id).order_by(RecommendationLog.id.desc()))
    return [(log.model_version, list(log.items or [])) for log in logs]


def transition(*, db: Session, settings: Settings, caller: Caller, referral_id: str,
               action: str, body: Any = None) -> Referral:
    """Take one checked step of the workflow."""
    referral = workflow.load_visible(db, caller, FLOW, Referral, referral_id, action="U")
    workflow.apply(db, caller, FLOW, referral, action, check_only=True)
    extra: dict[str, Any] = {}
    if action == "choose":
        assert isinstance(body, ChoosePractitioner)
        _choose(db, settings, caller, referral, body)
        extra = {"practitioner_id": referral.target_practitioner_id,
                 "institution_id": referral.target_institution_id}
    elif action in ("accept", "decline"):
        reason = body.reason if isinstance(body, Decline) else None
        referral.status_reason = reason
        workflow.decide(db, caller, subject_type="referral", subject_id=referral.id,
                        practitioner_id=referral.target_practitioner_id or "",
                        institution_id=referral.target_institution_id or "",
                        decision="accepted" if action == "accept" else "declined",
                        suggestions=_suggestions(db, referral.id), reason=reason)
        extra = {"reason": reason} if reason else {}
    elif action == "schedule":
        assert isinstance(body, ScheduleVisit)
        appt = schedule.book(db, subject_type="referral", subject_id=referral.id,
                             institution_id=referral.target_institution_id or "",
                             requester_institution=referral.institution_id,
                             practitioner_id=body.practitioner_id
                             or referral.target_practitioner_id,
                             patient_ref=referral.patient_ref, start=body.start,
                             minutes=body.minutes)
        referral.appointment_id = appt.id
        extra = {"appointment_id": appt.id, "start": body.start.isoformat()}
    elif action == "arrive":
        schedule.set_status(db, referral.appointment_id, "arrived")
        enc = telemedicine.open_encounter(db, subject_type="referral", subject_id=referral.id,
                                          institution_id=referral.target_institution_id or "",
                                          requester_institution=referral.institution_id,
                                          patient_ref=referral.patient_ref, virtual=False)
        referral.encounter_id = enc.id
        extra = {"encounter_id": enc.id}
    elif action == "complete":
        schedule.set_status(db, referral.appointment_id, "fulfilled")
        telemedicine.close_encounter(db, referral.encounter_id)
    elif action == "refer-back":
        assert isinstance(body, ReferBack)
        referral.discharge_summary = body.discharge_summary
        referral.follow_up_plan = body.follow_up_plan
    elif action == "cancel":
        schedule.set_status(db, referral.appointment_id, "cancelled")
        referral.status_reason = body.reason if isinstance(body, Decline) else None
    workflow.apply(db, caller, FLOW, referral, action, detail=extra)
    if action == "accept":  # the receiving institution may now read the patient's records
        records.grant_for_referral(db=db, settings=settings, caller=caller, referral=referral)
    db.commit()
    return referral


def _choose(db: Session, settings: Settings, caller: Caller, referral: Referral,
            body: ChoosePractitioner) -> None:
    suggestions = _suggestions(db, referral.id)
    institution = workflow.chosen_institution(
        settings, practitioner_id=body.practitioner_id, institution_id=body.institution_id,
        suggestions=suggestions, own_institution=referral.institution_id, what="referral")
    referral.target_practitioner_id = body.practitioner_id
    referral.target_institution_id = institution
    referral.status_reason = None
    workflow.decide(db, caller, subject_type="referral", subject_id=referral.id,
                    practitioner_id=body.practitioner_id, institution_id=institution,
                    decision="chosen", suggestions=suggestions)
