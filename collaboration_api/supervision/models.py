"""AuditEvent rows: who, what, when, from where, outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                               index=True)
    action: Mapped[str] = mapped_column(String(1))  # FHIR AuditEvent.action C R U D E
    subtype: Mapped[str] = mapped_column(String(64))  # e.g. referral.accept
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    patient_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    entity_institution: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(2))  # 0 success, 4 denied/minor, 8 serious
    outcome_desc: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_role: Mapped[str | None] = mapped_column(String(24), nullable=True)
    actor_institution: Mapped[str | None] = mapped_column(String(32), nullable=True,
                                                          index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Added by revision 0005: the ledger grant a cross-institution read was made under.
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    purpose: Mapped[str | None] = mapped_column(String(24), nullable=True)
