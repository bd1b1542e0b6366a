"""Directory shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class PatientRead(BaseModel):
    id: str
    institution_id: str
    name: str | None = None
    gender: str | None = None
    birth_date: str | None = None


class PatientPage(BaseModel):
    items: list[PatientRead]
    next: str | None = None


class InstitutionRead(BaseModel):
    id: str
    name: str | None = None
    tier: int | None = None
    region: str | None = None
    region_name_zh: str | None = None
    region_name_en: str | None = None


class PractitionerSearchRead(BaseModel):
    id: str
    institution_id: str
    name: str | None = None
    specialties: list[str] = []
    roles: list[str] = []
    active: bool = True


class PractitionerUpdate(BaseModel):
    """What an admin may change about a practitioner of their institution; omitted fields
    stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"active": False}, {"weekly_capacity": 12}, {"specialty": "cardiology"}]})

    active: bool | None = Field(None, description="false: takes no referrals or bookings")
    specialty: str | None = Field(None, min_length=2, max_length=64,
                                  pattern=r"^[a-z][a-z_]*$", examples=["cardiology"])
    weekly_capacity: float | None = Field(None, ge=0, le=500,
                                          description="clinic slots offered per week")


class PractitionerStatusRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    practitioner_id: str
    institution_id: str
    active: bool
    specialty: str | None
    weekly_capacity: float | None
    updated_at: UTCDateTime


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Radiology", "specialty": "radiology"}]})

    name: str = Field(min_length=2, max_length=128)
    specialty: str | None = Field(None, max_length=64)


class DepartmentRead(DepartmentCreate):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str


class RoleCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "practitioner_id": "PR000123", "code": "doctor", "specialty": "cardiology"}]})

    practitioner_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=2, max_length=32, examples=["doctor", "radiologist"])
    specialty: str | None = Field(None, max_length=64)
    department_id: str | None = Field(None, max_length=36)


class RoleRead(RoleCreate):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    active: bool


class EquipmentCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "modality": "CT", "name": "CT scanner 1", "manufacturer": "Acme 64-slice"}]})

    modality: Literal["CT", "MR", "US", "DX", "CR", "MG", "NM", "PT", "XA"] = Field(
        description="DICOM modality code (MR = MRI, US = ultrasound)")
    name: str = Field(min_length=2, max_length=128)
    manufacturer: str | None = Field(None, max_length=128)
    department_id: str | None = Field(None, max_length=36)


class EquipmentRead(EquipmentCreate):
    model_config = ConfigDict(from_attributes=True)

    modality: str  # type: ignore[assignment]
    id: str
    institution_id: str
    status: str


class BookingCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start": "2026-12-02T01:00:00Z", "minutes": 20, "purpose": "CT head"}]})

    start: AwareDatetime
    minutes: int = Field(20, ge=5, le=480)
    purpose: str = Field("", max_length=400)


class BookingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    equipment_id: str
    start: UTCDateTime
    end: UTCDateTime
    purpose: str


class FormularyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "C09AA05", "name": "ramipril", "form": "tablet", "strength": "5 mg",
        "max_days": 90}]})

    code: str = Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{0,2}[0-9]{0,2}$", description="ATC code")
    name: str = Field(min_length=2, max_length=128)
    form: str | None = Field(None, max_length=64)
    strength: str | None = Field(None, max_length=64)
    max_days: int = Field(90, ge=1, le=365, description="longest supply one renewal gives")


class FormularyRead(FormularyCreate):
    model_config = ConfigDict(from_attributes=True)

    code: str  # type: ignore[assignment]
    id: str
    institution_id: str
    active: bool
