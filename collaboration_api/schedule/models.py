"""Appointments (FHIR Appointment); slots and schedules come from the record stores."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow

ACTIVE = "status IN ('booked', 'arrived')"


class Appointment(Base):
    __tablename__ = "appointment"
    # One active appointment per practitioner and start: the database, not the code path,
    # decides which of two concurrent bookings of one slot wins.
    __table_args__ = (
        Index("uq_appointment_active_slot", "practitioner_id", "start", unique=True,
              sqlite_where=text(ACTIVE), postgresql_where=text(ACTIVE)),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # referral | consult
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32))  # where it takes place
    requester_institution: Mapped[str] = mapped_column(String(32))
    practitioner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    patient_ref: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="booked")  # FHIR Appointment
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
