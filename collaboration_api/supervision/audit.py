"""Writing the audit trail: one AuditEvent per read or write of patient data.

``record`` adds the event to the caller's transaction (it commits with the work it
describes); ``deny`` throws the work away, commits the denial on its own, and raises.
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.problems import Problem
from collaboration_api.supervision.models import AuditEvent

TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 409: "Conflict"}


def record(db: Session, caller: Caller | None, *, action: str, subtype: str,
           entity_type: str, entity_id: str | None = None, patient_ref: str | None = None,
           entity_institution: str | None = None, outcome: str = "0",
           detail: str = "", grant_id: str | None = None,
           purpose: str | None = None) -> AuditEvent:
    """``grant_id``/``purpose``: the ledger grant a cross-institution read was made under."""
    event = AuditEvent(action=action, subtype=subtype, entity_type=entity_type,
                       entity_id=entity_id, patient_ref=patient_ref,
                       entity_institution=entity_institution, outcome=outcome,
                       outcome_desc=detail[:2000], grant_id=grant_id, purpose=purpose,
                       actor_id=caller.id if caller else None,
                       actor_username=caller.username if caller else None,
                       actor_role=caller.role if caller else None,
                       actor_institution=caller.institution_id if caller else None,
                       source_ip=caller.ip if caller else None,
                       method=caller.method if caller else None,
                       path=(caller.path or "")[:255] if caller else None)
    db.add(event)
    return event


def deny(db: Session, caller: Caller, status: int, detail: str, *, entity_type: str,
         entity_id: str | None = None, patient_ref: str | None = None,
         entity_institution: str | None = None, action: str = "R",
         title: str | None = None) -> NoReturn:
    """Record a denied attempt (outcome 4) and raise the problem the caller sees."""
    db.rollback()
    record(db, caller, action=action, subtype="access.denied", entity_type=entity_type,
           entity_id=entity_id, patient_ref=patient_ref,
           entity_institution=entity_institution, outcome="4", detail=f"{status}: {detail}")
    db.commit()
    raise Problem(status, title or TITLES.get(status, "Error"), detail)
