"""Directory tables the institutions' admins keep: departments, practitioner roles,
equipment with its own schedule, and the drug formulary. Institutions and practitioners
themselves come from the record stores (ingest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class Department(Base):
    __tablename__ = "dir_department"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128))
    specialty: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PractitionerRoleEntry(Base):
    """A practitioner's role at an institution (FHIR PractitionerRole)."""

    __tablename__ = "dir_practitioner_role"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    practitioner_id: Mapped[str] = mapped_column(String(64), index=True)
    department_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    code: Mapped[str] = mapped_column(String(32))  # e.g. doctor, radiologist, nurse
    specialty: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PractitionerStatus(Base):
    """An admin's changes to a practitioner's directory entry: active or not, specialty,
    weekly capacity (``None``: as the record store says). The models read these, so each
    change is pushed to the feature store (``features.directory_push``)."""

    __tablename__ = "dir_practitioner_status"

    institution_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    specialty: Mapped[str | None] = mapped_column(String(64), nullable=True)
    weekly_capacity: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(36), nullable=True)


class Equipment(Base):
    """A device (CT, MRI, ultrasound, ...) with its own bookable schedule (FHIR Device)."""

    __tablename__ = "dir_equipment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    department_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    modality: Mapped[str] = mapped_column(String(8), index=True)  # DICOM: CT MR US DX ...
    name: Mapped[str] = mapped_column(String(128))
    manufacturer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")


class EquipmentBooking(Base):
    __tablename__ = "dir_equipment_booking"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    equipment_id: Mapped[str] = mapped_column(String(36), index=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    purpose: Mapped[str] = mapped_column(Text, default="")
    booked_by: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FormularyItem(Base):
    """A medicine on an institution's formulary (FHIR Medication)."""

    __tablename__ = "dir_formulary_item"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    code: Mapped[str] = mapped_column(String(16))  # ATC code, e.g. C09AA05
    name: Mapped[str] = mapped_column(String(128))
    form: Mapped[str | None] = mapped_column(String(64), nullable=True)
    strength: Mapped[str | None] = mapped_column(String(64), nullable=True)
    max_days: Mapped[int] = mapped_column(Integer, default=90)  # longest renewal supply
    active: Mapped[bool] = mapped_column(Boolean, default=True)
