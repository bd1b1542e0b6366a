"""Referral request and response shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime
from collaboration_api.schedule.schemas import AppointmentBrief
from collaboration_api.workflow.schemas import DecisionRead, EventRead
from serving.schemas import Phrase, RecommendItem

ICD10 = r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$"


class Attachment(BaseModel):
    """A document the receiving side may need, by reference (it stays at its holder)."""

    reference: str = Field(min_length=1, max_length=256,
                           examples=["DiagnosticReport/ecg-2026-11-25"])
    title: str | None = Field(None, max_length=256)
    content_type: str | None = Field(None, max_length=100)


class ReferralCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "diagnosis_code": "I21.4", "urgency": "urgent",
        "reason": "NSTEMI suspected, troponin raised; needs cardiology work-up",
        "attachments": [{"reference": "DiagnosticReport/ecg-1", "title": "12-lead ECG"}]}]})

    patient_id: str = Field(min_length=1, max_length=64,
                            description="The patient's id at the requesting institution")
    diagnosis_code: str = Field(pattern=ICD10, description="ICD-10 (WHO) code")
    urgency: Literal["routine", "urgent", "emergency"]
    reason: str = Field(min_length=1, max_length=4000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class ReferBack(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "discharge_summary": "PCI to LAD, uneventful; EF 50 %.",
        "follow_up_plan": "Dual antiplatelet 12 months; lipids in 6 weeks; review in 3 months."
    }]})

    discharge_summary: str = Field(min_length=3, max_length=8000)
    follow_up_plan: str = Field(min_length=3, max_length=4000)


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    patient_id: str
    patient_ref: str | None = Field(None, description="the patient's regional pseudonym "
                                                      "(opens their records elsewhere)")
    diagnosis_code: str
    urgency: str
    reason: str
    status: str = Field(description="FHIR Task.status")
    business_status: str = Field(description="FHIR Task.businessStatus")
    created_at: UTCDateTime
    updated_at: UTCDateTime | None = None
    requester_id: str | None = None
    attachments: list[Attachment] | None = None
    target_practitioner_id: str | None = None
    target_practitioner_name: str | None = Field(
        None, description="from the target institution's directory")
    target_institution_id: str | None = None
    status_reason: str | None = None
    appointment_id: str | None = None
    encounter_id: str | None = None
    discharge_summary: str | None = None
    follow_up_plan: str | None = None


class ReferralDetail(ReferralRead):
    history: list[EventRead] = []
    decisions: list[DecisionRead] = []
    appointment: AppointmentBrief | None = None


class ReferralPage(BaseModel):
    items: list[ReferralRead]
    next: str | None = None


class RecommendationPage(BaseModel):
    referral_id: str
    model_version: str | None
    degraded: bool
    items: list[RecommendItem]
    notes: list[str] = Field(default_factory=list,
                             description="what shaped the list beside the scores, e.g. "
                                         "candidates left out by the travel limit")
    note_codes: list[Phrase] = Field(default_factory=list,
                                     description="``notes`` as codes and values, one for one")
