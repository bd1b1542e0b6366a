"""Referral request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import RecommendItem


class ReferralCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "diagnosis_code": "I21.4", "urgency": "urgent",
        "reason": "NSTEMI suspected, troponin raised; needs cardiology work-up"}]})

    patient_id: str = Field(min_length=1, max_length=64,
                            description="The patient's id at the requesting institution")
    diagnosis_code: str = Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$",
                                description="ICD-10 (WHO) code")
    urgency: Literal["routine", "urgent", "emergency"]
    reason: str = Field(min_length=1, max_length=4000)


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    patient_id: str
    diagnosis_code: str
    urgency: str
    reason: str
    status: str
    business_status: str
    created_at: datetime


class RecommendationPage(BaseModel):
    referral_id: str
    model_version: str | None
    degraded: bool
    items: list[RecommendItem]
