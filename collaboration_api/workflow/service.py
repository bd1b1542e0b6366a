"""Checked transitions shared by referral and consultation.

A workflow subject (Referral, Consult) has an origin institution (``institution_id``, the
requester's) and, once a practitioner is chosen, a receiving institution. Each action
names the states it may start from, the state it leads to, the side that may take it and
the roles on that side. Every transition is recorded with its time and actor and is
notified to the other side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.db import utcnow
from collaboration_api.notifications.service import notify, users_at
from collaboration_api.supervision import audit
from collaboration_api.workflow.models import RecommendationDecision, WorkflowEvent

CLINICAL = ("clinician", "specialist")
RECEIVING = ("specialist", "scheduler")


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]  # business statuses it may start from
    target: str  # business status it leads to
    side: str  # origin | target
    roles: tuple[str, ...]


class Subject(Protocol):
    id: str
    institution_id: str
    patient_ref: str
    status: str
    business_status: str
    requester_id: str | None


@dataclass(frozen=True)
class Flow:
    subject_type: str  # referral | consult
    fhir_type: str  # the AuditEvent entity type
    transitions: dict[str, Transition]
    task_status: dict[str, str]  # business status -> FHIR Task.status
    target_attr: str  # attribute holding the receiving institution

    def target_of(self, subject: Any) -> str | None:
        return getattr(subject, self.target_attr)

    def side_of(self, caller: Caller, subject: Any) -> str | None:
        if caller.institution_id == subject.institution_id:
            return "origin"
        if caller.institution_id == self.target_of(subject):
            return "target"
        return None

    def visible(self, caller: Caller, subject: Any) -> bool:
        return self.side_of(caller, subject) is not None


def load_visible(db: Session, caller: Caller, flow: Flow, model: type, subject_id: str,
                 *, action: str = "R") -> Any:
    """The subject if the caller's institution is a party to it; 404 (audited) otherwise,
    so ids of other institutions' objects reveal nothing."""
    subject = db.get(model, subject_id)
    if subject is None or not flow.visible(caller, subject):
        audit.deny(db, caller, 404, f"no {flow.subject_type} {subject_id}",
                   entity_type=flow.fhir_type, entity_id=subject_id, action=action,
                   patient_ref=getattr(subject, "patient_ref", None) if subject else None)
    return subject


def apply(db: Session, caller: Caller, flow: Flow, subject: Any, action: str, *,
          detail: dict[str, Any] | None = None, check_only: bool = False) -> WorkflowEvent | None:
    """Check that the caller may take ``action`` now; then move the subject, record the
    event and audit it, and notify the other side. Nothing is committed here."""
    t = flow.transitions[action]
    side = flow.side_of(caller, subject)
    entity = {"entity_type": flow.fhir_type, "entity_id": subject.id,
              "patient_ref": subject.patient_ref,
              "entity_institution": subject.institution_id, "action": "U"}
    if side is None:
        audit.deny(db, caller, 404, f"no {flow.subject_type} {subject.id}", **entity)
    if side != t.side:
        who = "the requesting" if t.side == "origin" else "the receiving"
        audit.deny(db, caller, 403, f"only {who} institution may {action} this "
                                    f"{flow.subject_type}", **entity)
    if caller.role not in t.roles:
        audit.deny(db, caller, 403, f"a {caller.role} may not {action} a {flow.subject_type};"
                                    f" allowed: {', '.join(t.roles)}", **entity)
    if subject.business_status not in t.sources:
        audit.deny(db, caller, 409, f"cannot {action} a {flow.subject_type} that is "
                                    f"{subject.business_status}", title="Conflict", **entity)
    if check_only:
        return None
    before = subject.business_status
    # Compare-and-set: of two concurrent steps from the same state only one moves it (the
    # other's UPDATE waits for the row, then matches nothing), on SQLite and PostgreSQL.
    model = type(subject)
    moved = db.execute(
        update(model).where(model.id == subject.id, model.business_status == before)
        .values(business_status=t.target, status=flow.task_status[t.target],
                updated_at=utcnow())
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        audit.deny(db, caller, 409, f"the {flow.subject_type} changed meanwhile; reload it",
                   title="Conflict", **entity)
    subject.business_status = t.target
    subject.status = flow.task_status[t.target]
    subject.updated_at = utcnow()
    event = WorkflowEvent(subject_type=flow.subject_type, subject_id=subject.id, action=action,
                          from_status=before, to_status=t.target, actor_id=caller.id,
                          actor_role=caller.role, actor_institution=caller.institution_id,
                          at=utcnow(), detail=detail or {})
    db.add(event)
    audit.record(db, caller, action="U", subtype=f"{flow.subject_type}.{action}",
                 entity_type=flow.fhir_type, entity_id=subject.id,
                 patient_ref=subject.patient_ref, entity_institution=subject.institution_id,
                 detail=f"{before} -> {t.target}")
    notify_other_side(db, caller, flow, subject, kind=f"{flow.subject_type}.{action}",
                      message=f"{flow.subject_type} {subject.id[:8]}: {action} by "
                              f"{caller.username} ({caller.institution_id}); now {t.target}")
    return event


def notify_other_side(db: Session, caller: Caller, flow: Flow, subject: Any, *, kind: str,
                      message: str) -> None:
    side = flow.side_of(caller, subject)
    if side == "origin":
        target = flow.target_of(subject)
        recipients = users_at(db, target, RECEIVING) if target else []
    else:
        recipients = [subject.requester_id] if subject.requester_id else users_at(
            db, subject.institution_id, CLINICAL)
    notify(db, recipients, kind=kind, subject_type=flow.subject_type, subject_id=subject.id,
           message=message, exclude=caller.id)


def history(db: Session, subject_type: str, subject_id: str) -> list[WorkflowEvent]:
    return list(db.scalars(select(WorkflowEvent).where(
        WorkflowEvent.subject_type == subject_type, WorkflowEvent.subject_id == subject_id)
        .order_by(WorkflowEvent.id)))


def decide(db: Session, caller: Caller, *, subject_type: str, subject_id: str,
           practitioner_id: str, institution_id: str, decision: str,
           suggestions: list[tuple[str | None, list[dict]]], reason: str | None = None
           ) -> RecommendationDecision:
    """Store a decision on a practitioner with the model version that suggested them.

    ``suggestions`` are the logged (model_version, items) lists, newest first.
    """
    found: tuple[str | None, int, float | None] | None = None
    for version, items in suggestions:
        for rank, item in enumerate(items, start=1):
            if item.get("practitioner_id") == practitioner_id:
                found = (version, rank, item.get("score"))
                break
        if found:
            break
    row = RecommendationDecision(subject_type=subject_type, subject_id=subject_id,
                                 practitioner_id=practitioner_id, institution_id=institution_id,
                                 decision=decision, suggested=found is not None,
                                 model_version=found[0] if found else None,
                                 rank=found[1] if found else None,
                                 score=found[2] if found else None, reason=reason,
                                 actor_id=caller.id, at=utcnow())
    db.add(row)
    return row


def chosen_institution(settings: Any, *, practitioner_id: str, institution_id: str | None,
                       suggestions: list[tuple[str | None, list[dict]]],
                       own_institution: str, what: str) -> str:
    """The institution of the practitioner a clinician chose: given, or read off the
    suggestion; it must be another institution, and the practitioner must work there."""
    from collaboration_api.directory import service as directory
    from collaboration_api.problems import Problem

    institution = institution_id
    if institution is None:
        for _version, items in suggestions:
            match = next((i for i in items if i.get("practitioner_id") == practitioner_id),
                         None)
            if match:
                institution = match.get("institution_id")
                break
    if institution is None:
        raise Problem(422, "Institution needed", f"the practitioner was not suggested for "
                                                 f"this {what}: give institution_id")
    if institution == own_institution:
        raise Problem(422, "Same institution", f"a {what} goes to another institution")
    if not directory.practitioner_at(settings, institution, practitioner_id):
        raise Problem(422, "Unknown practitioner",
                      f"no practitioner {practitioner_id!r} at {institution}")
    return institution


def decisions(db: Session, subject_type: str, subject_id: str) -> list[RecommendationDecision]:
    return list(db.scalars(select(RecommendationDecision).where(
        RecommendationDecision.subject_type == subject_type,
        RecommendationDecision.subject_id == subject_id).order_by(RecommendationDecision.id)))


def db_event(db: Session, caller: Caller, flow: Flow, subject: Any, action: str) -> None:
    """Record the creation of a subject (no transition checks: it has no state yet)."""
    db.add(WorkflowEvent(subject_type=flow.subject_type, subject_id=subject.id, action=action,
                         from_status="", to_status=subject.business_status,
                         actor_id=caller.id, actor_role=caller.role,
                         actor_institution=caller.institution_id, at=utcnow(), detail={}))
