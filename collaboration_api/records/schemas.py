"""Shapes of a patient's records (each with its ledger check) and of access grants."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from collaboration_api.db import UTCDateTime
from ledger import ids


class LedgerCheck(BaseModel):
    verified: bool | None = Field(
        description="the record's SHA-256 equals the ledger's index; "
        "null: own record not indexed yet"
    )
    sha256: str = Field(description="SHA-256 of the canonical record bytes, hex")
    log_index: int | None = Field(
        None, description="entry of this read in the access log (cross-institution reads)"
    )
    version: int | None = Field(None, description="the record's version on the ledger")
    grant_id: str | None = Field(None, description="the grant the read was made under")
    purpose: str | None = None


class RecordRead(BaseModel):
    record_id: str = Field(examples=["Condition/DX-R1C1-0000001"])
    resource_type: str
    holder: str = Field(description="the institution that holds the record")
    resource: dict[str, Any]
    ledger: LedgerCheck


class RecordWithheld(BaseModel):
    """A record the caller was not given, and why (never dropped silently)."""

    record_id: str
    resource_type: str
    holder: str
    reason: Literal["mismatch", "no-grant", "missing"]
    detail: str
    log_index: int | None = None
    sha256_expected: str | None = None
    sha256_actual: str | None = None


class PatientRecords(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_ref": "p_0682338b85fac350",
                    "items": [
                        {
                            "record_id": "Condition/DX-R1C1-0000001",
                            "resource_type": "Condition",
                            "holder": "R1-C1",
                            "resource": {"resourceType": "Condition", "code": "I10"},
                            "ledger": {
                                "verified": True,
                                "sha256": "9f2c…",
                                "log_index": 17,
                                "version": 1,
                                "grant_id": "4be1…",
                                "purpose": "referral",
                            },
                        }
                    ],
                    "withheld": [],
                }
            ]
        }
    )

    patient_ref: str = Field(description="the patient's regional pseudonym")
    items: list[RecordRead]
    withheld: list[RecordWithheld]


class GrantCreate(BaseModel):
    grantee_institution_id: str = Field(min_length=1, max_length=32, examples=["R1-T1"])
    role: str = Field("physician", description=f"one of {', '.join(ids.ROLES)}")
    max_level: int = Field(
        1,
        ge=0,
        le=ids.MAX_LEVEL,
        description="highest sensitivity level opened: 0 routine, "
        "1 standard, 2 sensitive, 3 restricted",
    )
    purpose: str = Field("treatment", description=f"one of {', '.join(ids.PURPOSES)}")
    expires_at: AwareDatetime | None = Field(None, description="default: 30 days from now")
    consent_reference: str = Field(
        min_length=1,
        max_length=200,
        description="the patient's consent document; only its hash goes on the ledger",
    )

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ids.ROLES:
            raise ValueError(f"unknown role {v!r}; one of {', '.join(ids.ROLES)}")
        return v

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, v: str) -> str:
        if v not in ids.PURPOSES:
            raise ValueError(f"unknown purpose {v!r}; one of {', '.join(ids.PURPOSES)}")
        return v


class GrantRead(BaseModel):
    id: str
    patient_ref: str
    home_institution_id: str | None
    grantee_institution_id: str
    role: str
    max_level: int
    purpose: str
    expires_at: UTCDateTime
    active: bool = Field(description="granted and not revoked (expiry aside)")
    consent_sha256: str
