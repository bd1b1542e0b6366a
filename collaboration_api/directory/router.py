"""GET /patients."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.deps import SettingsDep
from collaboration_api.directory import service
from collaboration_api.directory.schemas import PatientPage, PatientRead
from collaboration_api.problems import Problem

router = APIRouter(tags=["directory"])


@router.get("/patients", response_model=PatientPage)
def list_patients(
    settings: SettingsDep,
    institution: str | None = Query(None, description="Institution code, e.g. R1-C1"),
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
) -> PatientPage:
    try:
        items, nxt = service.list_patients(settings, institution_id=institution,
                                           cursor=cursor, limit=limit)
    except ValueError as exc:
        raise Problem(400, "Bad cursor", str(exc)) from exc
    return PatientPage(items=[PatientRead(**{k: v for k, v in p.items()
                                             if k in PatientRead.model_fields})
                              for p in items], next=nxt)
