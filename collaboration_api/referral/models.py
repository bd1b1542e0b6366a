"""Referral tables. A referral is a FHIR ServiceRequest; its progress is a Task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow

__all__ = ["IdempotencyRecord", "RecommendationLog", "Referral", "utcnow"]


class Referral(Base):
    __tablename__ = "referral"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)  # requester's
    patient_id: Mapped[str] = mapped_column(String(64))  # the institution's own patient id
    patient_ref: Mapped[str] = mapped_column(String(40), index=True)  # regional pseudonym
    diagnosis_code: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="draft")  # Task.status
    business_status: Mapped[str] = mapped_column(String(40), default="awaiting-choice")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    # Added by part 1 of the collaboration API (revision 0002).
    requester_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    attachments: Mapped[list | None] = mapped_column(JSON, nullable=True)  # references only
    target_practitioner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target_institution_id: Mapped[str | None] = mapped_column(String(32), nullable=True,
                                                              index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    appointment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    encounter_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    discharge_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    follow_up_plan: Mapped[str | None] = mapped_column(Text, nullable=True)


class RecommendationLog(Base):
    """What was suggested, by which model version: the basis of labels at retraining."""

    __tablename__ = "recommendation_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral.id"), index=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    degraded: Mapped[bool] = mapped_column(default=False)
    items: Mapped[list] = mapped_column(JSON)
    # The challenger's ranking of the same request ({model_version, practitioner_ids}),
    # where one was scored in shadow; never shown to the clinician.
    shadow: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsultRecommendationLog(Base):
    """Expert suggestions for a consultation, by model version."""

    __tablename__ = "consult_recommendation_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consult_id: Mapped[str] = mapped_column(String(36), index=True)
    model_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    degraded: Mapped[bool] = mapped_column(default=False)
    items: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyRecord(Base):
    """The first response to a POST with an Idempotency-Key, replayed for retries.

    ``scope`` is a hash of (caller, path) so one client's keys never meet another's.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
