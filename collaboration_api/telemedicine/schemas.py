"""Encounter and video-session shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from collaboration_api.db import UTCDateTime

Profile = Literal["1080p", "720p", "540p", "360p", "180p", "audio-only"]


class ForceProfile(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"profile": "360p"}]})

    profile: Profile | None = Field(description="the highest profile this participant wants; "
                                                "null lifts their cap")


class EncounterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subject_type: str
    subject_id: str
    class_code: str
    status: str
    period_start: UTCDateTime
    period_end: UTCDateTime | None
    video_profile: str | None
    quality_history: list[dict[str, Any]]
