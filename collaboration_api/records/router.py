"""/patients/{patient_id}/records and /grants: validate, call the service, return a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.problems import PROBLEM, responses
from collaboration_api.records import service
from collaboration_api.records.access import LedgerAccess
from collaboration_api.records.schemas import GrantCreate, GrantRead, PatientRecords


def get_ledger_access(request: Request) -> LedgerAccess:
    return request.app.state.ledger


LedgerDep = Annotated[LedgerAccess, Depends(get_ledger_access)]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "the ledger is unavailable", "content": {PROBLEM: {}}}
}

router = APIRouter(
    prefix="/patients", tags=["records"], responses={**responses(401, 403, 404), **UNAVAILABLE}
)


@router.get("/{patient_id}/records", response_model=PatientRecords)
def read_records(
    patient_id: str,
    db: DbSession,
    settings: SettingsDep,
    access: LedgerDep,
    caller: CurrentUser,
    institution: str | None = Query(
        None,
        max_length=32,
        examples=["R1-C1"],
        description="only records held there; with a local patient id of that institution",
    ),
    resource_type: str | None = Query(
        None, alias="type", pattern=r"^[A-Za-z]{1,40}$", examples=["Condition"]
    ),
) -> PatientRecords:
    """The patient's records (`patient_id`: a local id of `institution` when given, else
    of your institution, or the regional pseudonym a referral carries). Records held elsewhere are
    read under a grant on the ledger, hash-checked against it and logged in its access log;
    a record that fails the check is listed in `withheld`, never returned. No grant: 403."""
    return PatientRecords.model_validate(
        service.read_records(
            db=db,
            settings=settings,
            access=access,
            caller=caller,
            patient_id=patient_id,
            institution=institution,
            resource_type=resource_type,
        )
    )


@router.get("/{patient_id}/grants", response_model=list[GrantRead])
def list_grants(
    patient_id: str, db: DbSession, settings: SettingsDep, access: LedgerDep, caller: CurrentUser
) -> list[GrantRead]:
    """The patient's access grants on the ledger (another institution sees its own only)."""
    return [
        GrantRead.model_validate(g)
        for g in service.list_grants(
            db=db, settings=settings, access=access, caller=caller, patient_id=patient_id
        )
    ]


@router.post(
    "/{patient_id}/grants", status_code=201, response_model=GrantRead, responses=responses(409, 422)
)
def create_grant(
    patient_id: str,
    data: GrantCreate,
    db: DbSession,
    settings: SettingsDep,
    access: LedgerDep,
    caller: CurrentUser,
) -> GrantRead:
    """The patient's home institution (a clinician or admin) lets another institution's
    role read the patient's records up to a sensitivity level, for a purpose, until expiry,
    under the patient's consent (only its hash goes on the ledger)."""
    return GrantRead.model_validate(
        service.create_grant(
            db=db, settings=settings, access=access, caller=caller, patient_id=patient_id, data=data
        )
    )


@router.delete(
    "/{patient_id}/grants/{grant_id}", response_model=GrantRead, responses=responses(409)
)
def revoke_grant(
    patient_id: str,
    grant_id: str,
    db: DbSession,
    settings: SettingsDep,
    access: LedgerDep,
    caller: CurrentUser,
    consent_reference: str | None = Query(
        None, max_length=200, description="the patient's withdrawal of consent"
    ),
) -> GrantRead:
    """Revoke a grant (home institution only); reads under it are refused at once."""
    return GrantRead.model_validate(
        service.revoke_grant(
            db=db,
            settings=settings,
            access=access,
            caller=caller,
            patient_id=patient_id,
            grant_id=grant_id,
            consent_reference=consent_reference,
        )
    )
