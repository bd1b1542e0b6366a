"""Shapes shared by the referral and consultation workflows."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class ChoosePractitioner(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "practitioner_id": "PR000123", "institution_id": "R1-T1"}]})

    practitioner_id: str = Field(min_length=1, max_length=64)
    institution_id: str | None = Field(None, max_length=32,
                                       description="taken from the suggestion when omitted")


class Decline(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "no cardiac catheterisation capacity this week"}]})

    reason: str = Field(min_length=3, max_length=2000)


class ScheduleVisit(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start": "2026-12-01T09:30:00Z", "minutes": 30}]})

    start: AwareDatetime = Field(description="with a UTC offset, e.g. ...Z")
    minutes: int = Field(30, ge=5, le=480)
    practitioner_id: str | None = Field(None, max_length=64,
                                        description="defaults to the chosen practitioner")


class Note(BaseModel):
    note: str | None = Field(None, max_length=4000)


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_status: str
    to_status: str
    actor_id: str
    actor_role: str
    actor_institution: str
    at: UTCDateTime
    detail: dict[str, Any]


class DecisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    practitioner_id: str
    practitioner_name: str | None = Field(
        None, description="from the institution's directory")
    institution_id: str
    decision: str
    suggested: bool
    model_version: str | None
    rank: int | None
    score: float | None
    reason: str | None
    actor_id: str
    at: UTCDateTime
