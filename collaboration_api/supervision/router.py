"""/supervision/audit: who read or wrote which patient data, when, from where."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses
from collaboration_api.supervision import service
from collaboration_api.supervision.schemas import AuditEventPage, AuditEventRead

router = APIRouter(prefix="/supervision", tags=["supervision"],
                   responses=responses(401, 403))


@router.get("/audit", response_model=AuditEventPage)
def audit_events(
    caller: CurrentUser,
    db: DbSession,
    entity_type: str | None = Query(None, examples=["ServiceRequest"]),
    entity_id: str | None = None,
    actor: str | None = Query(None, description="username or user id"),
    outcome: Literal["0", "4", "8"] | None = Query(None, description="0 ok, 4 denied"),
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> AuditEventPage:
    rows, nxt = service.query_audit(db=db, caller=caller, entity_type=entity_type,
                                    entity_id=entity_id, actor=actor, outcome=outcome,
                                    cursor=cursor, limit=limit)
    return AuditEventPage(items=[AuditEventRead.model_validate(r) for r in rows], next=nxt)
