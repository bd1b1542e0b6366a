"""Imaging shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime


class ImagingStudyCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_id": "R1-C1-P000001", "urgency": "urgent",
        "reason": "Head trauma, GCS 14; rule out bleed",
        "instances": ["RElDTS4uLg=="],
        "origin_dicomweb_base": "https://pacs.r1-c1.example.org/dicom-web"}]})

    patient_id: str = Field(min_length=1, max_length=64,
                            description="the patient's id at the registering institution")
    urgency: Literal["routine", "urgent", "emergency"] = "routine"
    reason: str = Field(min_length=3, max_length=4000)
    instances: list[str] = Field(min_length=1, max_length=200, description=(
        "base64 DICOM Part-10 files of the study (headers suffice): only their metadata "
        "is read; pixel data is never stored and stays at the origin"))
    body_part: str | None = Field(None, max_length=32,
                                  description="overrides BodyPartExamined when it is empty")
    origin_dicomweb_base: str | None = Field(None, max_length=400,
                                             pattern=r"^https?://[^\s]+$")


class ReaderProfile(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "modalities": ["CT", "MR"], "body_parts": ["HEAD", "CHEST"], "daily_max": 24}]})

    user_id: str | None = Field(None, description="an admin sets another radiologist's; "
                                                  "defaults to the caller")
    modalities: list[str] = Field(default_factory=list, max_length=20,
                                  description="DICOM modalities read; empty = all")
    body_parts: list[str] = Field(default_factory=list, max_length=50,
                                  description="body parts read; empty = all")
    daily_max: int = Field(16, ge=1, le=200)


class ReaderRead(ReaderProfile):
    model_config = ConfigDict(from_attributes=True)

    user_id: str | None = None
    institution_id: str
    active: bool


class ReportCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "findings": "Acute left subdural haematoma, 9 mm, midline shift 4 mm.",
        "conclusion": "Acute SDH with mass effect: neurosurgical referral now.",
        "critical": True}]})

    findings: str = Field(min_length=3, max_length=20000)
    conclusion: str = Field(min_length=3, max_length=4000)
    critical: bool = Field(False, description="a critical finding: the requester is "
                                              "notified at once")


class ReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    study_id: str
    author_id: str
    author_institution: str
    findings: str
    conclusion: str
    critical: bool
    issued: UTCDateTime


class ImagingStudyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    institution_id: str
    patient_id: str
    study_uid: str
    accession: str | None
    modality: str
    body_part: str | None
    description: str | None
    started: UTCDateTime | None
    series_count: int
    instance_count: int
    series: list[dict[str, Any]]
    dicomweb_url: str = Field(description="WADO-RS URL of the study at its origin")
    urgency: str
    reason: str
    status: str = Field(description="registered | assigned | reported")
    reader_id: str | None
    reader_institution: str | None
    assignment: dict[str, Any] | None
    registered_at: UTCDateTime
    assigned_at: UTCDateTime | None
    reported_at: UTCDateTime | None
    turnaround_h: float | None = Field(None, description="registered -> reported, hours")
    report: ReportRead | None = None


class ImagingStudyPage(BaseModel):
    items: list[ImagingStudyRead]
    next: str | None = None
