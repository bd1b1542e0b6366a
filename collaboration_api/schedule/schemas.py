"""Scheduling board shapes: suggestions, holds, decisions, free slots."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class BoardSuggestion(BaseModel):
    practitioner_id: str
    institution_id: str
    start: UTCDateTime
    end: UTCDateTime
    minutes: int
    slot_ids: list[str]
    score: float = Field(description="marginal objective of this booking in the plan")
    reasons: list[str]


class HoldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    request_id: str = Field(validation_alias="referral_id")
    institution_id: str
    practitioner_id: str
    start: UTCDateTime
    minutes: int
    status: str = Field(description="held | confirmed | released | expired")
    expires_at: UTCDateTime
    appointment_id: str | None = None


class BoardItem(BaseModel):
    request_id: str = Field(description="the accepted referral awaiting a slot")
    patient_ref: str
    urgency: str
    diagnosis_code: str
    specialty: str | None
    chosen_practitioner_id: str | None
    created_at: UTCDateTime
    duration_slots: int
    no_show_risk: float | None = Field(None, description="learned estimate (None: no model)")
    suggestion: BoardSuggestion | None = None
    unassigned_reason: str | None = None
    hold: HoldRead | None = None


class BoardRead(BaseModel):
    institution_id: str
    generated_at: UTCDateTime
    model_version: str | None
    degraded: bool
    degraded_reason: str | None = None
    items: list[BoardItem]


class SlotChoice(BaseModel):
    """The slot to hold; omitted on accept: the board's current suggestion."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "practitioner_id": "PR-R1T1-0007", "start": "2026-12-01T01:00:00Z"}]})

    practitioner_id: str | None = Field(None, max_length=64)
    start: AwareDatetime | None = Field(None, description="with a UTC offset, e.g. ...Z")
    minutes: int | None = Field(None, ge=30, le=120, multiple_of=30,
                                description="default: the suggestion's or the estimate's")


class AdjustSlot(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "practitioner_id": "PR-R1T1-0007", "start": "2026-12-01T01:30:00Z",
        "reason": "patient asked for a later time"}]})

    practitioner_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    minutes: int | None = Field(None, ge=30, le=120, multiple_of=30)
    reason: str | None = Field(None, max_length=2000)


class RejectSuggestion(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "the specialist is on leave that morning"}]})

    reason: str = Field(min_length=3, max_length=2000)


class ScheduleDecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    request_id: str = Field(validation_alias="referral_id")
    decision: str
    practitioner_id: str
    start: UTCDateTime
    minutes: int
    suggested: bool
    reason: str | None = None
    at: UTCDateTime


class ConfirmRead(BaseModel):
    request_id: str
    appointment_id: str
    practitioner_id: str
    start: UTCDateTime
    end: UTCDateTime
    business_status: str


class FreeSlot(BaseModel):
    slot_id: str
    start: UTCDateTime
    end: UTCDateTime


class PractitionerSlots(BaseModel):
    practitioner_id: str
    institution_id: str
    specialty: str | None
    items: list[FreeSlot]


class AppointmentBrief(BaseModel):
    """The visit a referral, or the session a live consultation, was scheduled for (FHIR
    Appointment)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    start: UTCDateTime
    end: UTCDateTime
    status: str
    institution_id: str
    practitioner_id: str | None = None
