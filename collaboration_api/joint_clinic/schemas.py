"""Joint clinic shapes."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class JointClinicCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "specialist_institution": "R1-T1",
        "specialist_practitioner_id": "PR000123", "start": "2026-12-03T02:00:00Z",
        "minutes": 30, "reason": "Resistant hypertension on three drugs"}]})

    patient_id: str = Field(min_length=1, max_length=64)
    specialist_institution: str = Field(min_length=1, max_length=32)
    specialist_practitioner_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime | None = Field(None, description=(
        "omit it and the scheduler books the specialist's best free slot"))
    minutes: int = Field(30, ge=10, le=240)
    reason: str = Field(min_length=3, max_length=4000)


class NoteCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "text": "Add spironolactone 25 mg; potassium in 1 week; review in 4 weeks."}]})

    text: str = Field(min_length=1, max_length=8000)


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    clinic_id: str
    record_institution: str = Field(description="whose patient record holds the note")
    author_id: str
    author_role: str
    author_institution: str
    text: str
    at: UTCDateTime


class JointClinicRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    requester_id: str
    patient_id: str
    specialist_institution: str
    specialist_practitioner_id: str
    reason: str
    start: UTCDateTime
    minutes: int
    status: str = Field(description="booked | in-progress | finished | cancelled")
    appointment_id: str | None
    encounter_id: str | None
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    ended_at: UTCDateTime | None


class JointClinicDetail(JointClinicRead):
    notes: list[NoteRead] = []


class JointClinicPage(BaseModel):
    items: list[JointClinicRead]
    next: str | None = None
