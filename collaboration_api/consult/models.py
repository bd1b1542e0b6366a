"""Consultations (a FHIR ServiceRequest for an opinion, progress as a Task)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class Consult(Base):
    __tablename__ = "consult"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)  # requester's
    requester_id: Mapped[str] = mapped_column(String(36))
    patient_id: Mapped[str] = mapped_column(String(64))
    patient_ref: Mapped[str] = mapped_column(String(40), index=True)
    diagnosis_code: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))  # live | async
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    business_status: Mapped[str] = mapped_column(String(40), default="awaiting-choice")
    expert_practitioner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expert_institution_id: Mapped[str | None] = mapped_column(String(32), nullable=True,
                                                              index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    appointment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    encounter_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    opinion: Mapped[str | None] = mapped_column(Text, nullable=True)
    opinion_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
