"""Internet clinic shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime

Condition = Literal["hypertension", "diabetes", "copd", "asthma"]


class PlanCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "condition": "hypertension",
        "medications": ["C09AA05"], "interval_days": 90}]})

    patient_id: str = Field(min_length=1, max_length=64)
    condition: Condition
    medications: list[str] = Field(default_factory=list, max_length=20,
                                   description="ATC codes the plan covers")
    interval_days: int | None = Field(None, ge=7, le=365,
                                      description="defaults to the condition's rule set")


class ObservationIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, examples=["bp-systolic"])
    value: float
    unit: str = Field(max_length=16, examples=["mm[Hg]"])
    at: AwareDatetime


class ObservationRead(ObservationIn):
    model_config = ConfigDict(from_attributes=True)

    at: UTCDateTime  # type: ignore[assignment]


class VisitCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "mode": "online", "at": "2026-11-20T02:00:00Z", "notes": "BP controlled",
        "observations": [{"code": "bp-systolic", "value": 132, "unit": "mm[Hg]",
                          "at": "2026-11-19T23:00:00Z"}]}]})

    mode: Literal["online", "in_person"]
    at: AwareDatetime
    notes: str = Field("", max_length=8000)
    observations: list[ObservationIn] = Field(default_factory=list, max_length=100)


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    plan_id: str
    mode: str
    at: UTCDateTime
    notes: str


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    patient_id: str
    condition: str
    interval_days: int
    medications: list[str]
    next_due: UTCDateTime
    active: bool
    created_at: UTCDateTime


class PlanDetail(PlanRead):
    visits: list[VisitRead] = []
    recent_observations: list[ObservationRead] = []


class PlanPage(BaseModel):
    items: list[PlanRead]
    next: str | None = None


class RenewalCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "plan_id": "6a1f...", "medication_code": "C09AA05", "days": 90}]})

    plan_id: str = Field(min_length=1, max_length=36)
    medication_code: str = Field(min_length=3, max_length=16)
    days: int = Field(ge=1, le=365)
    note: str = Field("", max_length=2000)


class RenewalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    plan_id: str
    medication_code: str
    days: int
    decision: str = Field(description="approved | refused")
    reasons: list[str] = Field(description="the rules that failed (empty when approved)")
    decided_at: UTCDateTime


class ReminderRead(BaseModel):
    plan_id: str
    patient_id: str
    condition: str
    next_due: UTCDateTime
    overdue_days: int
