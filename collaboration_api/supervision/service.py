"""Querying the audit trail."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.pagination import decode_cursor
from collaboration_api.supervision import audit
from collaboration_api.supervision.models import AuditEvent

SUPERVISORS = ("supervisor", "admin")


def query_audit(*, db: Session, caller: Caller, entity_type: str | None,
                entity_id: str | None, actor: str | None, outcome: str | None,
                cursor: str | None, limit: int) -> tuple[list[AuditEvent], str | None]:
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
