"""Audit trail shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recorded: UTCDateTime
    action: str
    subtype: str
    entity_type: str
    entity_id: str | None
    patient_ref: str | None
    entity_institution: str | None
    outcome: str
    outcome_desc: str
    actor_id: str | None
    actor_username: str | None
    actor_role: str | None
    actor_institution: str | None
    source_ip: str | None
    method: str | None
    path: str | None
    grant_id: str | None = None
    purpose: str | None = None


class AuditEventPage(BaseModel):
    items: list[AuditEventRead]
    next: str | None = None


class ModelSuggestionFigures(BaseModel):
    choices: int
    suggested: int
    acceptance_rate: float | None


class KpiRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "scope": {"institution": "R1-T1", "region": None, "start": None, "end": None},
        "referrals_up": 12, "referrals_down": 7, "acceptance_rate": 0.8,
        "time_to_accept_h": 5.5, "waiting_time_h": 52.0, "loop_closure_rate": 0.75,
        "consult_turnaround_h": 20.1, "imaging_turnaround_h": 1.9, "imaging_reports": 4,
        "imaging_critical": 1, "teaching_attendances": 9, "teaching_participants": 5,
        "teaching_credits": 6.0, "sla_breaches": 2,
        "model_suggestions": {"3": {"choices": 10, "suggested": 8, "acceptance_rate": 0.8}}}]})

    scope: dict[str, Any]
    referrals_up: int
    referrals_down: int
    acceptance_rate: float | None
    time_to_accept_h: float | None
    waiting_time_h: float | None
    loop_closure_rate: float | None
    consult_turnaround_h: float | None
    imaging_turnaround_h: float | None
    imaging_reports: int
    imaging_critical: int
    teaching_attendances: int
    teaching_participants: int
    teaching_credits: float
    sla_breaches: int
    model_suggestions: dict[str, ModelSuggestionFigures]


class AlertRead(BaseModel):
    kind: str = Field(description="referral.acceptance | consult.opinion | imaging.report "
                                  "| model.drift")
    subject_type: str
    subject_id: str
    institution_id: str | None = Field(description="the institution that owes the step "
                                                   "(none: alliance-wide, model.drift)")
    urgency: str
    since: UTCDateTime
    hours_open: float
    sla_hours: float
    # model.drift only: the worst feature, its PSI and the threshold it crossed.
    feature: str | None = None
    value: float | None = None
    threshold: float | None = None


class DriftWindow(BaseModel):
    start: UTCDateTime
    end: UTCDateTime
    referrals: int
    candidate_rows: int


class DriftFeature(BaseModel):
    name: str
    view: str = Field(description="feature view, or `request` for the referral's own fields")
    kind: str = Field(description="numeric (training deciles) | categorical")
    population: str = Field(description="referral (patient, request) | candidate")
    psi: float | None = Field(description="population stability index; null when skipped")
    bins: int | None
    training_rows: int
    recent_rows: int
    alerting: bool = Field(True, description="false: reported, but grows with history by "
                                             "construction and raises no alert")
    skipped: str | None = None


class DriftWorst(BaseModel):
    name: str
    psi: float


class DriftRead(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: str
    model_version: str
    feature_service: str | None
    training_window: DriftWindow
    recent_window: DriftWindow
    threshold: float = Field(description="alert when the worst PSI is above it")
    features: list[DriftFeature]
    worst: DriftWorst | None
    alert: bool
    computed_at: UTCDateTime
