"""Audit trail shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from collaboration_api.db import UTCDateTime


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recorded: UTCDateTime
    action: str
    subtype: str
    entity_type: str
    entity_id: str | None
    patient_ref: str | None
    entity_institution: str | None
    outcome: str
    outcome_desc: str
    actor_id: str | None
    actor_username: str | None
    actor_role: str | None
    actor_institution: str | None
    source_ip: str | None
    method: str | None
    path: str | None


class AuditEventPage(BaseModel):
    items: list[AuditEventRead]
    next: str | None = None
