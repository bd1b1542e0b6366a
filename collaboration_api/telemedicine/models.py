"""Encounters (FHIR Encounter) with their video-quality history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class Encounter(Base):
    __tablename__ = "encounter"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # referral | consult
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32))  # the serving side
    requester_institution: Mapped[str] = mapped_column(String(32))
    patient_ref: Mapped[str] = mapped_column(String(64))
    class_code: Mapped[str] = mapped_column(String(8), default="AMB")  # AMB | VR
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    video_profile: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # {user_id: policy state}; history: [{at, user_id, report, profile, reason}]
    video_state: Mapped[dict] = mapped_column(JSON, default=dict)
    quality_history: Mapped[list] = mapped_column(JSON, default=list)
