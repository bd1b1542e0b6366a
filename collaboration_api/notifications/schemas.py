"""Notification shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from collaboration_api.db import UTCDateTime


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    subject_type: str
    subject_id: str
    message: str
    created_at: UTCDateTime
    read_at: UTCDateTime | None


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next: str | None = None
