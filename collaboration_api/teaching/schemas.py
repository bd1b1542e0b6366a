"""Teaching shapes."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class CourseCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "Hypertension in primary care", "credits": 2.0, "min_sessions": 2,
        "description": "Diagnosis, first-line drugs, when to refer."}]})

    title: str = Field(min_length=3, max_length=200)
    description: str = Field("", max_length=8000)
    credits: float = Field(gt=0, le=50, description="continuing-education credits")
    min_sessions: int = Field(1, ge=1, le=100, description="sessions attended for credit")


class CourseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    teacher_id: str
    title: str
    description: str
    credits: float
    min_sessions: int
    created_at: UTCDateTime


class CoursePage(BaseModel):
    items: list[CourseRead]
    next: str | None = None


class SessionCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start": "2026-12-02T06:00:00Z", "minutes": 60}]})

    start: AwareDatetime
    minutes: int = Field(60, ge=5, le=480)


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    course_id: str
    start: UTCDateTime
    minutes: int
    status: str = Field(description="scheduled | live | ended")
    video_profile: str | None


class AttendanceCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_ids": ["4f3c..."], "minutes": 55}]})

    user_ids: list[str] = Field(min_length=1, max_length=500)
    minutes: int = Field(ge=1, le=480)


class EnrolmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    course_id: str
    user_id: str
    institution_id: str
    enrolled_at: UTCDateTime
    credits: float | None
    credited_at: UTCDateTime | None
    sessions_attended: int = 0


class CaseCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "consult_id": "0b7e...", "consent_reference": "Consent/2026-118",
        "title": "Uncontrolled T2DM on metformin", "tags": ["diabetes"]}]})

    consult_id: str = Field(min_length=1, max_length=36)
    consent_reference: str = Field(min_length=3, max_length=128,
                                   description="the patient's consent to teaching use")
    title: str = Field(min_length=3, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=20)


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    diagnosis_code: str
    title: str
    question: str
    opinion: str
    tags: list[str]
    created_at: UTCDateTime


class CasePage(BaseModel):
    items: list[CaseRead]
    next: str | None = None
