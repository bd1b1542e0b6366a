"""/consults routes."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.consult import service
from collaboration_api.consult.schemas import (
    ConsultCreate,
    ConsultDetail,
    ConsultPage,
    ConsultRead,
    Feedback,
    Opinion,
    SuggestionPage,
)
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses
from collaboration_api.workflow.schemas import ChoosePractitioner, Decline, ScheduleVisit

router = APIRouter(prefix="/consults", tags=["consult"],
                   responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


@router.post("", status_code=201, response_model=ConsultRead, responses=STEP)
def create_consult(data: ConsultCreate, db: DbSession, settings: SettingsDep,
                   caller: CurrentUser) -> ConsultRead:
    """Ask another institution's expert for an opinion, live or asynchronous."""
    return service.named(settings, service.create_consult(
        db=db, settings=settings, caller=caller, data=data))


@router.get("", response_model=ConsultPage)
def list_consults(db: DbSession, settings: SettingsDep, caller: CurrentUser,
                  cursor: str | None = None,
                  limit: int = Query(50, ge=1, le=MAX_PAGE)) -> ConsultPage:
    rows, nxt = service.list_consults(db=db, caller=caller, cursor=cursor, limit=limit)
    return ConsultPage(items=service.listed(settings, rows), next=nxt)


@router.get("/{consult_id}", response_model=ConsultDetail)
def read_consult(consult_id: str, db: DbSession, settings: SettingsDep,
                 caller: CurrentUser) -> ConsultDetail:
    consult = service.get_consult(db=db, caller=caller, consult_id=consult_id)
    return ConsultDetail.model_validate(
        service.detail(db=db, settings=settings, consult=consult))


@router.get("/{consult_id}/suggestions", response_model=SuggestionPage,
            responses={503: {"description": "the recommender is unreachable"}})
def suggestions(consult_id: str, request: Request, db: DbSession, settings: SettingsDep,
                caller: CurrentUser, k: int = Query(10, ge=1, le=50)) -> SuggestionPage:
    """Experts for this question, ranked by the recommender."""
    return service.suggestions(db=db, settings=settings, serving=request.app.state.serving,
                               caller=caller, consult_id=consult_id, k=k,
                               request_id=request.headers.get("X-Request-ID"))


def _step(action: str, body: object, consult_id: str, db: DbSession, settings: SettingsDep,
          caller: CurrentUser) -> ConsultRead:
    return service.named(settings, service.transition(
        db=db, settings=settings, caller=caller, consult_id=consult_id, action=action,
        body=body))


@router.post("/{consult_id}/choose", response_model=ConsultRead, responses=STEP)
def choose(consult_id: str, data: ChoosePractitioner, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ConsultRead:
    return _step("choose", data, consult_id, db, settings, caller)


@router.post("/{consult_id}/accept", response_model=ConsultRead, responses=STEP)
def accept(consult_id: str, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ConsultRead:
    return _step("accept", None, consult_id, db, settings, caller)


@router.post("/{consult_id}/decline", response_model=ConsultRead, responses=STEP)
def decline(consult_id: str, data: Decline, db: DbSession, settings: SettingsDep,
            caller: CurrentUser) -> ConsultRead:
    return _step("decline", data, consult_id, db, settings, caller)


@router.post("/{consult_id}/schedule", response_model=ConsultRead, responses=STEP)
def schedule_session(consult_id: str, data: ScheduleVisit, db: DbSession,
                     settings: SettingsDep, caller: CurrentUser) -> ConsultRead:
    """Book the live session's time (a FHIR Appointment)."""
    return _step("schedule", data, consult_id, db, settings, caller)


@router.post("/{consult_id}/start", response_model=ConsultRead, responses=STEP)
def start_session(consult_id: str, db: DbSession, settings: SettingsDep,
                  caller: CurrentUser) -> ConsultRead:
    """Open the live session: a virtual Encounter whose video profile the policy sets."""
    return _step("start", None, consult_id, db, settings, caller)


@router.post("/{consult_id}/opinion", response_model=ConsultRead, responses=STEP)
def opinion(consult_id: str, data: Opinion, db: DbSession, settings: SettingsDep,
            caller: CurrentUser) -> ConsultRead:
    """The expert's written opinion (ends a live session)."""
    return _step("opinion", data, consult_id, db, settings, caller)


@router.post("/{consult_id}/feedback", response_model=ConsultRead, responses=STEP)
def feedback(consult_id: str, data: Feedback, db: DbSession, settings: SettingsDep,
             caller: CurrentUser) -> ConsultRead:
    """The requester rates the opinion (1-5) and closes the consultation."""
    return _step("feedback", data, consult_id, db, settings, caller)


@router.post("/{consult_id}/cancel", response_model=ConsultRead, responses=STEP)
def cancel(consult_id: str, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ConsultRead:
    return _step("cancel", None, consult_id, db, settings, caller)
