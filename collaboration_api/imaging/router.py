"""/imaging routes: register by reference, the reading worklist, reports."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.imaging import service
from collaboration_api.imaging.models import ImagingStudy
from collaboration_api.imaging.schemas import (
    ImagingStudyCreate,
    ImagingStudyPage,
    ImagingStudyRead,
    ReaderProfile,
    ReaderRead,
    ReportCreate,
    ReportRead,
)
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses

router = APIRouter(prefix="/imaging", tags=["imaging"], responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


def _read(db: Session, study: ImagingStudy, *, with_report: bool = True) -> ImagingStudyRead:
    rep = service.report_of(db, study.id) if with_report else None
    return ImagingStudyRead.model_validate(study).model_copy(update={
        "turnaround_h": service.turnaround_h(study),
        "report": ReportRead.model_validate(rep) if rep else None})


@router.post("/studies", status_code=201, response_model=ImagingStudyRead, responses=STEP)
def register_study(data: ImagingStudyCreate, db: DbSession, settings: SettingsDep,
                   caller: CurrentUser) -> ImagingStudyRead:
    """Register a study by reference from its DICOM files and assign a reader at once."""
    return _read(db, service.register_study(db=db, settings=settings, caller=caller,
                                            data=data), with_report=False)


@router.get("/studies", response_model=ImagingStudyPage)
def list_studies(db: DbSession, caller: CurrentUser,
                 status: Literal["registered", "assigned", "reported"] | None = None,
                 cursor: str | None = None,
                 limit: int = Query(50, ge=1, le=MAX_PAGE)) -> ImagingStudyPage:
    rows, nxt = service.list_studies(db=db, caller=caller, status=status, cursor=cursor,
                                     limit=limit)
    return ImagingStudyPage(items=[_read(db, s) for s in rows], next=nxt)


@router.get("/worklist", response_model=list[ImagingStudyRead])
def worklist(db: DbSession, caller: CurrentUser) -> list[ImagingStudyRead]:
    """The caller's (a radiologist's) studies to read, most urgent first."""
    return [_read(db, s, with_report=False) for s in service.worklist(db=db, caller=caller)]


@router.get("/studies/{study_id}", response_model=ImagingStudyRead)
def read_study(study_id: str, db: DbSession, caller: CurrentUser) -> ImagingStudyRead:
    return _read(db, service.get_study(db=db, caller=caller, study_id=study_id))


@router.post("/studies/{study_id}/assign", response_model=ImagingStudyRead, responses=STEP)
def assign(study_id: str, db: DbSession, caller: CurrentUser) -> ImagingStudyRead:
    """Assign a study that nobody could read when it was registered."""
    return _read(db, service.reassign(db=db, caller=caller, study_id=study_id))


@router.post("/studies/{study_id}/report", response_model=ImagingStudyRead, responses=STEP)
def report(study_id: str, data: ReportCreate, db: DbSession,
           caller: CurrentUser) -> ImagingStudyRead:
    """The assigned radiologist's report (a FHIR DiagnosticReport)."""
    return _read(db, service.report(db=db, caller=caller, study_id=study_id, data=data))


@router.post("/readers", response_model=ReaderRead, responses=STEP)
def set_reader(data: ReaderProfile, db: DbSession, caller: CurrentUser) -> ReaderRead:
    """What a radiologist reads (modalities, body parts) and their daily maximum."""
    return ReaderRead.model_validate(service.set_reader_profile(db=db, caller=caller, data=data))
