"""Appointments (FHIR Appointment), and the scheduling board's holds, suggestions and
decisions; slots and schedules come from the record stores."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
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


class ScheduleHold(Base):
    """A scheduler accepted a board suggestion: the slot is held until ``expires_at``, then
    confirmed (an Appointment), released (adjusted or rejected) or expired."""

    __tablename__ = "schedule_hold"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="held")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    appointment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class ScheduleHoldSlot(Base):
    """One row per 30-minute slot a live hold covers. The unique key lets the database pick
    the one winner of concurrent accepts; the rows go when the hold ends."""

    __tablename__ = "schedule_hold_slot"
    __table_args__ = (UniqueConstraint("practitioner_id", "slot_start",
                                       name="uq_schedule_hold_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hold_id: Mapped[str] = mapped_column(String(36), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleSuggestionLog(Base):
    """What the board suggested for a request, by which model version."""

    __tablename__ = "schedule_suggestion_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32))
    practitioner_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    no_show_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleDecision(Base):
    """A scheduler's decision on a slot for a request: the label for retraining.

    decision: accepted | adjusted | rejected | confirmed | expired (no actor: the clock).
    ``suggested``: the slot was the board's suggestion.
    """

    __tablename__ = "schedule_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32))
    practitioner_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))
    suggested: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    no_show_risk: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    hold_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
