"""Token and user shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["clinician", "specialist", "scheduler", "radiologist", "teacher", "supervisor",
               "data_scientist", "admin"]


class Token(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJIUzI1NiIs...", "token_type": "bearer", "expires_in": 900,
        "refresh_token": "eyJhbGciOiJIUzI1NiIs..."}]})

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10)


class UserCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "username": "dr.wang", "password": "a long passphrase", "role": "specialist",
        "institution_id": "R1-T1", "practitioner_id": "PR000123"}]})

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=10, max_length=256)
    role: Role
    institution_id: str = Field(min_length=1, max_length=32)
    practitioner_id: str | None = Field(None, max_length=64)
    display_name: str = Field("", max_length=128)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    role: str
    institution_id: str
    practitioner_id: str | None
    display_name: str
