"""/joint-clinics routes: book, start (video via /telemedicine), shared notes, finish."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.joint_clinic import service
from collaboration_api.joint_clinic.schemas import (
    JointClinicCreate,
    JointClinicDetail,
    JointClinicPage,
    JointClinicRead,
    NoteCreate,
    NoteRead,
)
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses

router = APIRouter(prefix="/joint-clinics", tags=["joint-clinic"],
                   responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


@router.post("", status_code=201, response_model=JointClinicRead, responses=STEP)
def book(data: JointClinicCreate, db: DbSession, settings: SettingsDep,
         caller: CurrentUser) -> JointClinicRead:
    """The community clinician books a session with another institution's specialist."""
    return JointClinicRead.model_validate(service.book(db=db, settings=settings,
                                                       caller=caller, data=data))


@router.get("", response_model=JointClinicPage)
def list_clinics(db: DbSession, caller: CurrentUser, cursor: str | None = None,
                 limit: int = Query(50, ge=1, le=MAX_PAGE)) -> JointClinicPage:
    rows, nxt = service.list_clinics(db=db, caller=caller, cursor=cursor, limit=limit)
    return JointClinicPage(items=[JointClinicRead.model_validate(c) for c in rows], next=nxt)


@router.get("/{clinic_id}", response_model=JointClinicDetail)
def read_clinic(clinic_id: str, db: DbSession, caller: CurrentUser) -> JointClinicDetail:
    clinic, notes = service.get(db=db, caller=caller, clinic_id=clinic_id)
    return JointClinicDetail.model_validate({
        **JointClinicRead.model_validate(clinic).model_dump(),
        "notes": [NoteRead.model_validate(n) for n in notes]})


@router.post("/{clinic_id}/start", response_model=JointClinicRead, responses=STEP)
def start(clinic_id: str, db: DbSession, caller: CurrentUser) -> JointClinicRead:
    """Open the virtual encounter; participants then join its video session at
    `/telemedicine/encounters/{encounter_id}/join`."""
    return JointClinicRead.model_validate(service.start(db=db, caller=caller,
                                                        clinic_id=clinic_id))


@router.post("/{clinic_id}/notes", status_code=201, response_model=NoteRead, responses=STEP)
def add_note(clinic_id: str, data: NoteCreate, db: DbSession, caller: CurrentUser) -> NoteRead:
    """A shared note, filed in the patient's record at the requesting institution."""
    return NoteRead.model_validate(service.add_note(db=db, caller=caller, clinic_id=clinic_id,
                                                    data=data))


@router.post("/{clinic_id}/finish", response_model=JointClinicRead, responses=STEP)
def finish(clinic_id: str, db: DbSession, caller: CurrentUser) -> JointClinicRead:
    return JointClinicRead.model_validate(service.finish(db=db, caller=caller,
                                                         clinic_id=clinic_id))
