"""Imaging studies (FHIR ImagingStudy, by reference), readers and reports
(FHIR DiagnosticReport)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class ImagingStudy(Base):
    """A study whose pixel data stays at the origin; only its metadata is registered."""

    __tablename__ = "imaging_study"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)  # origin
    requester_id: Mapped[str] = mapped_column(String(36))
    patient_id: Mapped[str] = mapped_column(String(64))
    patient_ref: Mapped[str] = mapped_column(String(40), index=True)
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    accession: Mapped[str | None] = mapped_column(String(64), nullable=True)
    modality: Mapped[str] = mapped_column(String(8))
    body_part: Mapped[str | None] = mapped_column(String(32), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    series_count: Mapped[int] = mapped_column(Integer)
    instance_count: Mapped[int] = mapped_column(Integer)
    series: Mapped[list] = mapped_column(JSON)  # [{uid, number, modality, body_part, ...}]
    dicomweb_url: Mapped[str] = mapped_column(String(512))
    urgency: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="registered")
    reader_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    reader_institution: Mapped[str | None] = mapped_column(String(32), nullable=True,
                                                           index=True)
    assignment: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)


class ImagingReader(Base):
    """What a radiologist reads (empty list = everything) and how much per day."""

    __tablename__ = "imaging_reader"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32))
    modalities: Mapped[list] = mapped_column(JSON)
    body_parts: Mapped[list] = mapped_column(JSON)
    daily_max: Mapped[int] = mapped_column(Integer, default=16)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ImagingReport(Base):
    __tablename__ = "imaging_report"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(36), index=True)
    author_id: Mapped[str] = mapped_column(String(36))
    author_institution: Mapped[str] = mapped_column(String(32))
    findings: Mapped[str] = mapped_column(Text)
    conclusion: Mapped[str] = mapped_column(Text)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    issued: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
