"""Regional internet clinic: follow-up plans for chronic diseases, visits with their
observations, rule-checked prescription renewals, reminders of due follow-ups.

A plan belongs to the patient's own institution; only its clinicians see it (404 for the
others). Every read and write is audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.db import as_utc, utcnow
from collaboration_api.directory.models import FormularyItem
from collaboration_api.directory.service import find_patient
from collaboration_api.internet_clinic import rules
from collaboration_api.internet_clinic.models import (
    ClinicObservation,
    ClinicVisit,
    FollowUpPlan,
    RenewalRequest,
)
from collaboration_api.internet_clinic.schemas import PlanCreate, RenewalCreate, VisitCreate
from collaboration_api.notifications.service import notify, users_at
from collaboration_api.pagination import decode_cursor
from collaboration_api.supervision import audit
from regioncare.settings import Settings

CLINICAL = ("clinician", "specialist")
REMIND_AHEAD = timedelta(days=7)


def _role(db: Session, caller: Caller, action: str) -> None:
    if not caller.has_role(*CLINICAL):
        audit.deny(db, caller, 403, f"a {caller.role} may not use the internet clinic",
                   entity_type="CarePlan", action=action,
                   entity_institution=caller.institution_id)


def _audit(db: Session, caller: Caller, plan: FollowUpPlan, action: str, subtype: str,
           detail: str = "", entity_type: str = "CarePlan",
           entity_id: str | None = None) -> None:
    audit.record(db, caller, action=action, subtype=subtype, entity_type=entity_type,
                 entity_id=entity_id or plan.id, patient_ref=plan.patient_ref,
                 entity_institution=plan.institution_id, detail=detail)


def create_plan(*, db: Session, settings: Settings, caller: Caller,
                data: PlanCreate) -> FollowUpPlan:
    _role(db, caller, "C")
    patient = find_patient(settings, data.patient_id, caller.institution_id)
    if patient is None:
        audit.deny(db, caller, 404, f"no patient {data.patient_id!r} at "
                                    f"{caller.institution_id}", entity_type="Patient",
                   entity_id=data.patient_id, action="C",
                   entity_institution=caller.institution_id, title="Unknown patient")
    interval = data.interval_days or rules.RULES[data.condition].follow_up_days
    now = utcnow()
    plan = FollowUpPlan(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                        patient_id=data.patient_id, patient_ref=patient.pseudonym,
                        condition=data.condition, interval_days=interval,
                        medications=[m.upper() for m in data.medications],
                        next_due=now + timedelta(days=interval), active=True,
                        created_by=caller.id, created_at=now)
    db.add(plan)
    _audit(db, caller, plan, "C", "internet-clinic.plan")
    db.commit()
    return plan


def load_plan(db: Session, caller: Caller, plan_id: str, *, action: str = "R"
              ) -> FollowUpPlan:
    _role(db, caller, action)
    plan = db.get(FollowUpPlan, plan_id)
    if plan is None or plan.institution_id != caller.institution_id:
        audit.deny(db, caller, 404, f"no follow-up plan {plan_id}", entity_type="CarePlan",
                   entity_id=plan_id, action=action)
    return plan


def get_plan(*, db: Session, caller: Caller, plan_id: str
             ) -> tuple[FollowUpPlan, list[ClinicVisit], list[ClinicObservation]]:
    """The plan with its visits and the patient's observations of the last 180 days."""
    plan = load_plan(db, caller, plan_id)
    visits = list(db.scalars(select(ClinicVisit).where(ClinicVisit.plan_id == plan.id)
                             .order_by(ClinicVisit.at.desc())))
    since = utcnow() - timedelta(days=180)
    obs = [o for o in db.scalars(select(ClinicObservation).where(
        ClinicObservation.plan_id == plan.id).order_by(ClinicObservation.at.desc()))
        if as_utc(o.at) >= since]
    _audit(db, caller, plan, "R", "internet-clinic.plan.read")
    db.commit()
    return plan, visits, obs


def list_plans(*, db: Session, caller: Caller, cursor: str | None, limit: int
               ) -> tuple[list[FollowUpPlan], str | None]:
    _role(db, caller, "R")
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(select(FollowUpPlan).where(
        FollowUpPlan.institution_id == caller.institution_id)
        .order_by(FollowUpPlan.next_due, FollowUpPlan.id).offset(offset).limit(limit + 1)))
    audit.record(db, caller, action="R", subtype="internet-clinic.plan.list",
                 entity_type="CarePlan", entity_institution=caller.institution_id,
                 detail=f"{min(len(rows), limit)} plans listed")
    db.commit()
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def record_visit(*, db: Session, caller: Caller, plan_id: str, data: VisitCreate
                 ) -> ClinicVisit:
    """A follow-up visit (online or in person) with the observations taken; the next
    follow-up falls due one interval after the latest visit."""
    plan = load_plan(db, caller, plan_id, action="C")
    visit = ClinicVisit(id=str(uuid.uuid4()), plan_id=plan.id, mode=data.mode, at=data.at,
                        notes=data.notes, clinician_id=caller.id)
    db.add(visit)
    for o in data.observations:
        db.add(ClinicObservation(plan_id=plan.id, code=o.code, value=o.value, unit=o.unit,
                                 at=o.at))
    latest = max([as_utc(v.at) for v in db.scalars(select(ClinicVisit).where(
        ClinicVisit.plan_id == plan.id))] + [as_utc(data.at)])
    plan.next_due = latest + timedelta(days=plan.interval_days)
    plan.reminded_at = None
    _audit(db, caller, plan, "C", "internet-clinic.visit", entity_type="Encounter",
           entity_id=visit.id, detail=f"{data.mode}, {len(data.observations)} observations")
    db.commit()
    return visit


def request_renewal(*, db: Session, caller: Caller, data: RenewalCreate,
                    now: datetime | None = None) -> RenewalRequest:
    """Check a renewal against the condition's rule set; the decision and its reasons are
    stored either way."""
    plan = load_plan(db, caller, data.plan_id, action="C")
    now = as_utc(now) or utcnow()
    code = data.medication_code.upper()
    formulary = list(db.scalars(select(FormularyItem).where(
        FormularyItem.institution_id == plan.institution_id, FormularyItem.active.is_(True))))
    item = next((f for f in formulary if f.code.upper() == code), None)
    visits = list(db.scalars(select(ClinicVisit).where(ClinicVisit.plan_id == plan.id,
                                                       ClinicVisit.mode == "in_person")))
    rule = rules.RULES[plan.condition]
    observations = [as_utc(o.at) for o in db.scalars(select(ClinicObservation).where(
        ClinicObservation.plan_id == plan.id, ClinicObservation.code == rule.observation))
        ] if rule.observation else []
    facts = rules.Facts(
        condition=plan.condition, medication_code=code, days=data.days,
        on_plan=code in (plan.medications or []),
        formulary_max_days=item.max_days if item else None,
        formulary_known=bool(formulary),
        last_in_person=max((as_utc(v.at) for v in visits), default=None),
        last_observation=max(observations, default=None), now=now)
    reasons = rules.check(facts)
    renewal = RenewalRequest(id=str(uuid.uuid4()), plan_id=plan.id, medication_code=code,
                             days=data.days, decision="refused" if reasons else "approved",
                             reasons=reasons, requester_id=caller.id, decided_at=now,
                             note=data.note)
    db.add(renewal)
    _audit(db, caller, plan, "C", f"internet-clinic.renewal.{renewal.decision}",
           entity_type="MedicationRequest", entity_id=renewal.id,
           detail="; ".join(reasons)[:2000])
    db.commit()
    return renewal


def reminders(*, db: Session, caller: Caller, send: bool = False,
              now: datetime | None = None) -> list[tuple[FollowUpPlan, int]]:
    """Plans of the caller's institution due within a week or overdue, most overdue first;
    ``send`` notifies the institution's clinicians of each not yet reminded."""
    _role(db, caller, "R")
    now = as_utc(now) or utcnow()
    due = [p for p in db.scalars(select(FollowUpPlan).where(
        FollowUpPlan.institution_id == caller.institution_id, FollowUpPlan.active.is_(True)))
        if as_utc(p.next_due) <= now + REMIND_AHEAD]
    due.sort(key=lambda p: as_utc(p.next_due))
    out = [(p, max(0, (now - as_utc(p.next_due)).days)) for p in due]
    if send:
        staff = users_at(db, caller.institution_id, CLINICAL)
        for plan, overdue in out:
            if plan.reminded_at is None:
                notify(db, staff, kind="internet-clinic.due", subject_type="careplan",
                       subject_id=plan.id,
                       message=f"{plan.condition} follow-up of {plan.patient_id} "
                               + (f"overdue by {overdue} days" if overdue else "due soon"))
                plan.reminded_at = now
    audit.record(db, caller, action="R", subtype="internet-clinic.reminders",
                 entity_type="CarePlan", entity_institution=caller.institution_id,
                 detail=f"{len(out)} due")
    db.commit()
    return out
