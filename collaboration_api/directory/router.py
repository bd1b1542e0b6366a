"""GET /patients: the patients known at the caller's institution."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.directory import service
from collaboration_api.directory.schemas import PatientPage, PatientRead
from collaboration_api.problems import Problem, responses

router = APIRouter(tags=["directory"], responses=responses(401))

@router.get("/patients", response_model=PatientPage,
            responses=responses(403))
def list_patients(
    settings: SettingsDep,
    db: DbSession,
    caller: CurrentUser,
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
) -> PatientPage:
    """A page of the patients of the caller's own institution (records stay at home)."""
    try:
        items, nxt = service.patients_for(db=db, settings=settings, caller=caller,
                                          cursor=cursor, limit=limit)
    except ValueError as exc:
        raise Problem(400, "Bad cursor", str(exc)) from exc
    return PatientPage(items=[PatientRead(**{k: v for k, v in p.items()
                                             if k in PatientRead.model_fields})
                              for p in items], next=nxt)
