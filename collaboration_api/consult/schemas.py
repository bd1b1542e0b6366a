"""Consultation shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime
from collaboration_api.referral.schemas import ICD10
from collaboration_api.schedule.schemas import AppointmentBrief
from collaboration_api.workflow.schemas import DecisionRead, EventRead
from serving.schemas import RecommendItem


class ConsultCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "diagnosis_code": "E11.9", "urgency": "routine",
        "mode": "live", "question": "HbA1c 9.8 % on metformin: add SGLT2i or insulin?"}]})

    patient_id: str = Field(min_length=1, max_length=64)
    diagnosis_code: str = Field(pattern=ICD10, description="ICD-10 (WHO) code")
    urgency: Literal["routine", "urgent", "emergency"] = "routine"
    mode: Literal["live", "async"] = Field(description="live video session or written only")
    question: str = Field(min_length=3, max_length=4000)


class Opinion(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "opinion": "Add empagliflozin 10 mg; recheck HbA1c in 3 months."}]})

    opinion: str = Field(min_length=3, max_length=8000)


class Feedback(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "rating": 5, "feedback": "Clear and actionable, thank you."}]})

    rating: int = Field(ge=1, le=5)
    feedback: str | None = Field(None, max_length=4000)


class ConsultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    requester_id: str
    patient_id: str
    diagnosis_code: str
    urgency: str
    mode: str
    question: str
    status: str = Field(description="FHIR Task.status")
    business_status: str = Field(description="FHIR Task.businessStatus")
    expert_practitioner_id: str | None
    expert_practitioner_name: str | None = Field(
        None, description="from the expert institution's directory")
    expert_institution_id: str | None
    status_reason: str | None
    appointment_id: str | None
    session_start: UTCDateTime | None = Field(None, description="a live consultation's "
                                              "session, once scheduled")
    encounter_id: str | None
    opinion: str | None
    feedback: str | None
    rating: int | None
    created_at: UTCDateTime
    updated_at: UTCDateTime | None


class ConsultDetail(ConsultRead):
    history: list[EventRead] = []
    decisions: list[DecisionRead] = []
    appointment: AppointmentBrief | None = Field(None, description="a live consultation's "
                                                 "session, once scheduled")


class ConsultPage(BaseModel):
    items: list[ConsultRead]
    next: str | None = None


class SuggestionPage(BaseModel):
    consult_id: str
    model_version: str | None
    degraded: bool
    items: list[RecommendItem]
