"""Remote consultation: request -> expert suggestions -> choose -> accept | decline ->
(live: schedule -> session) -> written opinion -> requester's feedback and rating."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session

from collaboration_api.auth.deps import Caller
from collaboration_api.consult.models import Consult
from collaboration_api.consult.schemas import (
    ConsultCreate,
    ConsultRead,
    Feedback,
    Opinion,
    SuggestionPage,
)
from collaboration_api.db import as_utc
from collaboration_api.directory import service as directory
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.referral.models import ConsultRecommendationLog
from collaboration_api.schedule import service as schedule
from collaboration_api.serving_client import ServingClient, ServingUnavailable
from collaboration_api.supervision import audit
from collaboration_api.telemedicine import service as telemedicine
from collaboration_api.workflow import service as workflow
from collaboration_api.workflow.schemas import ChoosePractitioner, Decline, ScheduleVisit
from collaboration_api.workflow.service import CLINICAL, RECEIVING, Flow, Transition
from regioncare.settings import Settings
from serving.schemas import RecommendRequest

OPEN = ("awaiting-choice", "awaiting-acceptance", "declined", "accepted", "scheduled")
FLOW = Flow(
    subject_type="consult", fhir_type="ServiceRequest", target_attr="expert_institution_id",
    transitions={t.action: t for t in (
        Transition("choose", ("awaiting-choice", "declined"), "awaiting-acceptance", "origin",
                   CLINICAL),
        Transition("accept", ("awaiting-acceptance",), "accepted", "target", RECEIVING),
        Transition("decline", ("awaiting-acceptance",), "declined", "target", RECEIVING),
        Transition("schedule", ("accepted",), "scheduled", "target", RECEIVING),
        Transition("start", ("scheduled",), "in-session", "target", ("specialist",)),
        Transition("opinion", ("accepted", "in-session"), "opinion-given", "target",
                   ("specialist",)),
        Transition("feedback", ("opinion-given",), "closed", "origin", CLINICAL),
        Transition("cancel", OPEN, "cancelled", "origin", CLINICAL),
    )},
    task_status={"awaiting-choice": "draft", "awaiting-acceptance": "requested",
                 "declined": "rejected", "accepted": "accepted", "scheduled": "ready",
                 "in-session": "in-progress", "opinion-given": "in-progress",
                 "closed": "completed", "cancelled": "cancelled"},
)


def create_consult(*, db: Session, settings: Settings, caller: Caller,
                   data: ConsultCreate) -> Consult:
    if not caller.has_role(*CLINICAL):
        audit.deny(db, caller, 403, f"a {caller.role} may not request consultations",
                   entity_type="ServiceRequest", action="C",
                   entity_institution=caller.institution_id)
    patient = directory.own_patient(db, settings, caller, data.patient_id)
    consult = Consult(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                      requester_id=caller.id, patient_id=data.patient_id,
                      patient_ref=patient.pseudonym, diagnosis_code=data.diagnosis_code,
                      urgency=data.urgency, mode=data.mode, question=data.question,
                      status="draft", business_status="awaiting-choice")
    db.add(consult)
    db.flush()
    workflow.db_event(db, caller, FLOW, consult, "create")
    audit.record(db, caller, action="C", subtype="consult.create", entity_type="ServiceRequest",
                 entity_id=consult.id, patient_ref=consult.patient_ref,
                 entity_institution=caller.institution_id)
    db.commit()
    return consult


def list_consults(*, db: Session, caller: Caller, cursor: str | None,
                  limit: int) -> tuple[list[Consult], str | None]:
    inst = caller.institution_id
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(select(Consult).where(or_(
        Consult.institution_id == inst, Consult.expert_institution_id == inst))
        .order_by(Consult.created_at.desc(), Consult.id).offset(offset).limit(limit + 1)))
    audit.record(db, caller, action="R", subtype="consult.list", entity_type="ServiceRequest",
                 entity_institution=inst, detail=f"{min(len(rows), limit)} consults listed")
    db.commit()
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def get_consult(*, db: Session, caller: Caller, consult_id: str) -> Consult:
    consult = workflow.load_visible(db, caller, FLOW, Consult, consult_id)
    audit.record(db, caller, action="R", subtype="consult.read", entity_type="ServiceRequest",
                 entity_id=consult.id, patient_ref=consult.patient_ref,
                 entity_institution=consult.institution_id)
    db.commit()
    return consult


def named(settings: Settings, consult: Consult) -> ConsultRead:
    """The consultation with its expert's name from the directory and, for a live one that
    is scheduled, its session's start."""
    return listed(settings, [consult])[0]


def listed(settings: Settings, consults: list[Consult]) -> list[ConsultRead]:
    """``named`` for a page of consultations, their sessions read in one query."""
    from collaboration_api.schedule.models import Appointment

    booked = [c.appointment_id for c in consults if c.appointment_id]
    db = object_session(consults[0]) if booked else None
    starts = dict(db.execute(select(Appointment.id, Appointment.start).where(
        Appointment.id.in_(booked))).all()) if db is not None else {}
    return [_read(settings, c, starts.get(c.appointment_id)) for c in consults]


def _read(settings: Settings, consult: Consult, session_start: datetime | None) -> ConsultRead:
    return ConsultRead.model_validate(consult).model_copy(update={
        "expert_practitioner_name": directory.practitioner_name(
            settings, consult.expert_institution_id, consult.expert_practitioner_id),
        "session_start": as_utc(session_start)})


def detail(*, db: Session, settings: Settings, consult: Consult) -> dict[str, Any]:
    from collaboration_api.schedule.models import Appointment

    # the session read once, for its start and its brief
    appointment = db.get(Appointment, consult.appointment_id) if consult.appointment_id \
        else None
    return {**_read(settings, consult, appointment and appointment.start).model_dump(),
            "history": workflow.history(db, "consult", consult.id),
            "decisions": directory.named_decisions(
                settings, workflow.decisions(db, "consult", consult.id)),
            "appointment": appointment}


def suggestions(*, db: Session, settings: Settings, serving: ServingClient, caller: Caller,
                consult_id: str, k: int = 10, request_id: str | None = None) -> SuggestionPage:
    consult = workflow.load_visible(db, caller, FLOW, Consult, consult_id)
    if FLOW.side_of(caller, consult) != "origin" or not caller.has_role(*CLINICAL):
        audit.deny(db, caller, 403, "only the requesting clinicians see the suggestions",
                   entity_type="ServiceRequest", entity_id=consult.id,
                   patient_ref=consult.patient_ref, entity_institution=consult.institution_id)
    req = RecommendRequest(patient_id=consult.patient_ref, diagnosis_code=consult.diagnosis_code,
                           urgency=consult.urgency, origin_institution_id=consult.institution_id,
                           origin_tier=directory.institution_tier(consult.institution_id), k=k)
    try:
        result = serving.recommend(req, request_id=request_id)
    except ServingUnavailable as exc:
        raise Problem(503, "Recommender unavailable", str(exc)) from exc
    db.add(ConsultRecommendationLog(consult_id=consult.id, model_version=result.model_version,
                                    degraded=result.degraded,
                                    items=[i.model_dump(mode="json") for i in result.items]))
    audit.record(db, caller, action="E", subtype="consult.suggestions",
                 entity_type="ServiceRequest", entity_id=consult.id,
                 patient_ref=consult.patient_ref, entity_institution=consult.institution_id)
    db.commit()
    return SuggestionPage(consult_id=consult.id, model_version=result.model_version,
                          degraded=result.degraded,
                          items=directory.with_names(settings, result.items))


def _suggested(db: Session, consult_id: str) -> list[tuple[str | None, list[dict]]]:
    logs = db.scalars(select(ConsultRecommendationLog).where(
        ConsultRecommendationLog.consult_id == consult_id)
        .order_by(ConsultRecommendationLog.id.desc()))
    return [(log.model_version, list(log.items or [])) for log in logs]


def transition(*, db: Session, settings: Settings, caller: Caller, consult_id: str,
               action: str, body: Any = None) -> Consult:
    consult = workflow.load_visible(db, caller, FLOW, Consult, consult_id, action="U")
    workflow.apply(db, caller, FLOW, consult, action, check_only=True)
    live = consult.mode == "live"
    wrong_mode = ((action in ("schedule", "start") and not live)
                  or (action == "opinion" and live and consult.business_status != "in-session")
                  or (action == "opinion" and not live and consult.business_status != "accepted"))
    if wrong_mode:
        audit.deny(db, caller, 409, f"cannot {action} a {consult.mode} consultation that is "
                                    f"{consult.business_status}", entity_type="ServiceRequest",
                   entity_id=consult.id, patient_ref=consult.patient_ref, action="U",
                   entity_institution=consult.institution_id, title="Conflict")
    extra: dict[str, Any] = {}
    if action == "choose":
        assert isinstance(body, ChoosePractitioner)
        _choose(db, settings, caller, consult, body)
        extra = {"practitioner_id": consult.expert_practitioner_id,
                 "institution_id": consult.expert_institution_id}
    elif action in ("accept", "decline"):
        reason = body.reason if isinstance(body, Decline) else None
        consult.status_reason = reason
        workflow.decide(db, caller, subject_type="consult", subject_id=consult.id,
                        practitioner_id=consult.expert_practitioner_id or "",
                        institution_id=consult.expert_institution_id or "",
                        decision="accepted" if action == "accept" else "declined",
                        suggestions=_suggested(db, consult.id), reason=reason)
    elif action == "schedule":
        assert isinstance(body, ScheduleVisit)
        appt = schedule.book(db, subject_type="consult", subject_id=consult.id,
                             institution_id=consult.expert_institution_id or "",
                             requester_institution=consult.institution_id,
                             practitioner_id=body.practitioner_id
                             or consult.expert_practitioner_id,
                             patient_ref=consult.patient_ref, start=body.start,
                             minutes=body.minutes)
        consult.appointment_id = appt.id
        extra = {"appointment_id": appt.id, "start": body.start.isoformat()}
    elif action == "start":
        schedule.set_status(db, consult.appointment_id, "arrived")
        enc = telemedicine.open_encounter(db, subject_type="consult", subject_id=consult.id,
                                          institution_id=consult.expert_institution_id or "",
                                          requester_institution=consult.institution_id,
                                          patient_ref=consult.patient_ref, virtual=True)
        consult.encounter_id = enc.id
        extra = {"encounter_id": enc.id}
    elif action == "opinion":
        assert isinstance(body, Opinion)
        consult.opinion, consult.opinion_by = body.opinion, caller.id
        schedule.set_status(db, consult.appointment_id, "fulfilled")
        telemedicine.close_encounter(db, consult.encounter_id)
    elif action == "feedback":
        assert isinstance(body, Feedback)
        consult.rating, consult.feedback = body.rating, body.feedback
        extra = {"rating": body.rating}
    elif action == "cancel":
        schedule.set_status(db, consult.appointment_id, "cancelled")
    workflow.apply(db, caller, FLOW, consult, action, detail=extra)
    db.commit()
    return consult


def _choose(db: Session, settings: Settings, caller: Caller, consult: Consult,
            body: ChoosePractitioner) -> None:
    suggested = _suggested(db, consult.id)
    institution = workflow.chosen_institution(
        settings, practitioner_id=body.practitioner_id, institution_id=body.institution_id,
        suggestions=suggested, own_institution=consult.institution_id,
        what="remote consultation")
    consult.expert_practitioner_id, consult.expert_institution_id = (body.practitioner_id,
                                                                     institution)
    workflow.decide(db, caller, subject_type="consult", subject_id=consult.id,
                    practitioner_id=body.practitioner_id, institution_id=institution,
                    decision="chosen", suggestions=suggested)
