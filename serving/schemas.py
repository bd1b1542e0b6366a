"""What the recommender takes and gives; shared by Serve, plain FastAPI and the API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendRequest(BaseModel):
    patient_id: str = Field(description="Regional pseudonymous patient id")
    diagnosis_code: str = Field(description="ICD-10 code, e.g. I21.4")
    urgency: str = Field("routine", pattern="^(routine|urgent|emergency)$")
    origin_institution_id: str | None = None
    origin_tier: int = Field(1, ge=1, le=3)
    k: int = Field(10, ge=1, le=100)


class RecommendItem(BaseModel):
    practitioner_id: str
    institution_id: str
    specialty: str
    score: float
    reasons: list[str]
    earliest_slot: str | None = None
    distance_km: float


class RecommendResponse(BaseModel):
    model_version: str | None
    degraded: bool
    degraded_reason: str | None = None
    items: list[RecommendItem]
