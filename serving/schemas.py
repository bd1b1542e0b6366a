"""What the recommender and the scheduler take and give; shared by Serve, plain FastAPI and
the API."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

MAX_TRAVEL_KM = 5000.0  # a patient's travel limit beyond this is a typing error


class RecommendRequest(BaseModel):
    patient_id: str = Field(description="Regional pseudonymous patient id")
    diagnosis_code: str = Field(description="ICD-10 code, e.g. I21.4")
    urgency: str = Field("routine", pattern="^(routine|urgent|emergency)$")
    origin_institution_id: str | None = None
    origin_tier: int = Field(1, ge=1, le=3)
    k: int = Field(10, ge=1, le=100)
    # Continuity of care: specialists who accepted this patient's earlier referrals, most
    # recent first (the API reads them from its referral records).
    seen_practitioners: list[str] = Field(default_factory=list, max_length=50)
    # The patient's own limit: candidates farther from the patient's home region (the
    # regional centroid, the finest place the platform keeps) are left out.
    max_travel_km: float | None = Field(None, gt=0, le=MAX_TRAVEL_KM)


class Phrase(BaseModel):
    """A reason or a note as a code and its values, so that a console can word it in its
    user's language; the English sentence travels beside it."""

    code: str
    values: dict[str, str | int] = Field(default_factory=dict)


class RecommendItem(BaseModel):
    practitioner_id: str
    institution_id: str
    specialty: str
    score: float
    reasons: list[str]
    reason_codes: list[Phrase] = Field(default_factory=list)  # ``reasons``, one for one
    earliest_slot: str | None = None
    distance_km: float
    practitioner_name: str | None = None  # the API's, from the directory; serving has ids


class ShadowRanking(BaseModel):
    """The challenger's ranking of the same request: logged beside the champion's, for
    comparison before a promotion; never shown to the clinician."""

    model_version: str
    practitioner_ids: list[str]


class RecommendResponse(BaseModel):
    model_version: str | None
    degraded: bool
    degraded_reason: str | None = None
    items: list[RecommendItem]
    # What shaped the list beside the scores, e.g. candidates left out by the travel limit.
    notes: list[str] = Field(default_factory=list)
    note_codes: list[Phrase] = Field(default_factory=list)  # ``notes``, one for one
    shadow: ShadowRanking | None = None


# -- the specialist scheduler (issue 6) -----------------------------------------------------

class SchedulePractitioner(BaseModel):
    id: str
    institution_id: str
    tier: str = Field("tertiary", pattern="^(community|secondary|tertiary)$")
    specialties: list[str]
    languages: list[str] = ["zh"]
    lat: float | None = None
    lon: float | None = None
    daily_max_slots: int = Field(16, ge=1)


class ScheduleSlot(BaseModel):
    id: str
    practitioner_id: str
    start: AwareDatetime
    minutes: int = Field(30, ge=5)
    capacity: int = Field(1, ge=1)
    booked: int = Field(0, ge=0)


class ExcludedSlot(BaseModel):
    """A slot the scheduler rejected for this request: never suggested again."""

    practitioner_id: str
    start: AwareDatetime


class ScheduleRequestItem(BaseModel):
    id: str
    specialty: str
    urgency: str = Field("routine", pattern="^(routine|urgent|emergency)$")
    created: AwareDatetime
    deadline: AwareDatetime | None = None
    modality: str = Field("in_person", pattern="^(in_person|remote)$")
    language: str = "zh"
    patient_id: str | None = Field(None, description="Regional pseudonym (for features)")
    diagnosis_code: str | None = None
    match_quality: dict[str, float] = {}
    follow_up_of: str | None = None
    duration_slots: int | None = Field(None, ge=1, le=4,
                                       description="None: the learned estimate")
    exclude: list[ExcludedSlot] = []


class ReplanRequest(BaseModel):
    """Everything a re-plan needs: the open requests, the practitioners, their slots."""

    now: AwareDatetime
    requests: list[ScheduleRequestItem]
    practitioners: list[SchedulePractitioner]
    slots: list[ScheduleSlot]
    time_limit_s: float = Field(2.0, gt=0, le=30)


class SuggestRequest(BaseModel):
    now: AwareDatetime
    request: ScheduleRequestItem
    practitioners: list[SchedulePractitioner]
    slots: list[ScheduleSlot]
    k: int = Field(3, ge=1, le=20)


class ScheduleSuggestion(BaseModel):
    request_id: str
    practitioner_id: str
    institution_id: str
    start: AwareDatetime
    minutes: int
    slot_ids: list[str]
    score: float
    reasons: list[str]


class RequestEstimate(BaseModel):
    request_id: str
    duration_slots: int
    no_show_risk: float | None = None
    source: str = Field(description="model | given | default")


class ReplanResponse(BaseModel):
    model_version: str | None
    degraded: bool
    degraded_reason: str | None = None
    suggestions: list[ScheduleSuggestion]
    unassigned: dict[str, str] = {}
    estimates: list[RequestEstimate] = []
    objective: float | None = None
    bound: float | None = None
    violations: int = 0
    seconds: float = 0.0


class SuggestResponse(BaseModel):
    model_version: str | None
    degraded: bool
    degraded_reason: str | None = None
    estimate: RequestEstimate
    items: list[ScheduleSuggestion]
