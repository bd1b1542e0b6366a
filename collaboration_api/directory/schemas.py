"""Directory shapes."""

from __future__ import annotations

from pydantic import BaseModel


class PatientRead(BaseModel):
    id: str
    institution_id: str
    name: str | None = None
    gender: str | None = None
    birth_date: str | None = None


class PatientPage(BaseModel):
    items: list[PatientRead]
    next: str | None = None
