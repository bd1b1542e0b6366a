"""Follow-up plans, visits, observations and prescription renewal requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class FollowUpPlan(Base):
    """A patient's chronic-disease follow-up at their institution."""

    __tablename__ = "ic_plan"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    patient_ref: Mapped[str] = mapped_column(String(40), index=True)
    condition: Mapped[str] = mapped_column(String(24))
    interval_days: Mapped[int] = mapped_column(Integer)
    medications: Mapped[list] = mapped_column(JSON)  # ATC codes on the plan
    next_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)


class ClinicVisit(Base):
    __tablename__ = "ic_visit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    mode: Mapped[str] = mapped_column(String(12))  # online | in_person
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str] = mapped_column(Text, default="")
    clinician_id: Mapped[str] = mapped_column(String(36))


class ClinicObservation(Base):
    __tablename__ = "ic_observation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    code: Mapped[str] = mapped_column(String(32))  # e.g. bp-systolic, hba1c, fev1
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RenewalRequest(Base):
    __tablename__ = "ic_renewal"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    medication_code: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(12))  # approved | refused
    reasons: Mapped[list] = mapped_column(JSON)
    requester_id: Mapped[str] = mapped_column(String(36))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
