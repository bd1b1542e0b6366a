"""Querying the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.supervision import audit, drift
from collaboration_api.supervision.kpis import Scope
from collaboration_api.supervision.kpis import alerts as kpi_alerts
from collaboration_api.supervision.kpis import figures as kpi_figures
from collaboration_api.supervision.models import AuditEvent
from regioncare.settings import Settings

SUPERVISORS = ("supervisor", "admin")


def query_audit(*, db: Session, caller: Caller, entity_type: str | None,
                entity_id: str | None, actor: str | None, outcome: str | None,
                cursor: str | None, limit: int, patient_ref: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                grant_id: str | None = None, purpose: str | None = None
                ) -> tuple[list[AuditEvent], str | None]:
    """Newest first. Supervisors see events by or about their institution; admins all."""
    if not caller.has_role(*SUPERVISORS):
        audit.deny(db, caller, 403, "only supervisors query the audit trail",
                   entity_type="AuditEvent")
    stmt = select(AuditEvent)
    if caller.role != "admin":
        stmt = stmt.where(or_(AuditEvent.actor_institution == caller.institution_id,
                              AuditEvent.entity_institution == caller.institution_id))
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if actor:
        stmt = stmt.where(or_(AuditEvent.actor_username == actor, AuditEvent.actor_id == actor))
    if outcome:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    if patient_ref:
        stmt = stmt.where(AuditEvent.patient_ref == patient_ref)
    if grant_id:
        stmt = stmt.where(AuditEvent.grant_id == grant_id)
    if purpose:
        stmt = stmt.where(AuditEvent.purpose == purpose)
    if since:
        stmt = stmt.where(AuditEvent.recorded >= since)
    if until:
        stmt = stmt.where(AuditEvent.recorded < until)
    before = decode_cursor(cursor)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    rows = list(db.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    nxt = str(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], nxt


def visible_event(*, db: Session, caller: Caller, event_id: int) -> AuditEvent:
    if not caller.has_role(*SUPERVISORS):
        audit.deny(db, caller, 403, "only supervisors read audit events",
                   entity_type="AuditEvent", entity_id=str(event_id))
    event = db.get(AuditEvent, event_id)
    if event is None or (caller.role != "admin" and caller.institution_id not in (
            event.actor_institution, event.entity_institution)):
        audit.deny(db, caller, 404, f"no audit event {event_id}", entity_type="AuditEvent",
                   entity_id=str(event_id))
    return event


def kpi_scope(*, db: Session, caller: Caller, institution: str | None, region: str | None,
              start: datetime | None, end: datetime | None) -> Scope:
    """Who may see which figures: an admin every scope; a supervisor their own institution
    and their own region; nobody else any. Other scopes are 404 (audited)."""
    if not caller.has_role(*SUPERVISORS):
        audit.deny(db, caller, 403, "only supervisors see the supervision figures",
                   entity_type="Measure")
    if institution and region:
        raise Problem(422, "One scope", "give institution or region, not both")
    own_region = caller.institution_id.split("-")[0]
    if caller.role != "admin":
        if institution is None and region is None:
            institution = caller.institution_id
        if (institution and institution != caller.institution_id) or (
                region and region != own_region):
            audit.deny(db, caller, 404, f"no figures for {institution or region} visible to "
                                        f"{caller.institution_id}", entity_type="Measure",
                       entity_institution=institution)
    if start and end and start >= end:
        raise Problem(422, "Empty period", "start must be before end")
    return Scope(institution=institution, region=region, start=start, end=end)


def kpis(*, db: Session, caller: Caller, institution: str | None, region: str | None,
         start: datetime | None, end: datetime | None) -> dict[str, Any]:
    scope = kpi_scope(db=db, caller=caller, institution=institution, region=region,
                      start=start, end=end)
    result = kpi_figures(db, scope)
    audit.record(db, caller, action="R", subtype="supervision.kpis", entity_type="Measure",
                 entity_institution=scope.institution,
                 detail=f"institution={scope.institution} region={scope.region}")
    db.commit()
    return {"scope": {"institution": scope.institution, "region": scope.region,
                      "start": start, "end": end}, **result}


def alerts(*, db: Session, caller: Caller, institution: str | None,
           region: str | None, settings: Settings | None = None) -> list[dict[str, Any]]:
    scope = kpi_scope(db=db, caller=caller, institution=institution, region=region,
                      start=None, end=None)
    found = [a for a in kpi_alerts(db) if scope.has(a["institution_id"])]
    if settings is not None:
        # The model serves the whole alliance: its drift shows in every scope.
        found += drift.alerts(settings)
        found.sort(key=lambda a: -a["hours_open"])
    return found


def feature_drift(*, db: Session, caller: Caller, settings: Settings, days: int,
                  end: datetime | None) -> dict[str, Any]:
    """PSI per feature of the champion referral model (see ``supervision.drift``)."""
    if not caller.has_role(*SUPERVISORS):
        audit.deny(db, caller, 403, "only supervisors see feature drift",
                   entity_type="Measure")
    try:
        result = drift.cached(settings, days=days, end=end)
    except drift.DriftUnavailable as exc:
        raise Problem(404, exc.title, exc.detail) from None
    audit.record(db, caller, action="R", subtype="supervision.drift", entity_type="Measure",
                 detail=f"model={result['model']} version={result['model_version']}")
    db.commit()
    return result
