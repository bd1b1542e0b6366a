"""/referrals routes: validate, call the service, return a schema."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses
from collaboration_api.referral import service
from collaboration_api.referral.schemas import (
    RecommendationPage,
    ReferBack,
    ReferralCreate,
    ReferralDetail,
    ReferralPage,
    ReferralRead,
)
from collaboration_api.workflow.schemas import ChoosePractitioner, Decline, Note, ScheduleVisit
from serving.schemas import MAX_TRAVEL_KM

router = APIRouter(prefix="/referrals", tags=["referral"],
                   responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


@router.post("", status_code=201, response_model=ReferralRead, responses=STEP)
def create_referral(data: ReferralCreate, db: DbSession, settings: SettingsDep,
                    caller: CurrentUser) -> ReferralRead:
    """Refer a patient of the caller's institution. Send an `Idempotency-Key` header: a
    retry with the same key gets the first answer and creates nothing new."""
    return service.named(settings, service.create_referral(
        db=db, settings=settings, caller=caller, data=data))


@router.get("", response_model=ReferralPage)
def list_referrals(db: DbSession, settings: SettingsDep, caller: CurrentUser,
                   side: Literal["sent", "received"] | None = None,
                   business_status: str | None = Query(None, examples=["awaiting-acceptance"]),
                   cursor: str | None = None,
                   limit: int = Query(50, ge=1, le=MAX_PAGE)) -> ReferralPage:
    rows, nxt = service.list_referrals(db=db, caller=caller, side=side,
                                       business_status=business_status, cursor=cursor,
                                       limit=limit)
    return ReferralPage(items=[service.named(settings, r) for r in rows], next=nxt)


@router.get("/{referral_id}", response_model=ReferralDetail)
def read_referral(referral_id: str, db: DbSession, settings: SettingsDep,
                  caller: CurrentUser) -> ReferralDetail:
    """The referral with its timestamped history, the decisions on practitioners and the
    visit it was scheduled for."""
    referral = service.get_referral(db=db, caller=caller, referral_id=referral_id)
    return ReferralDetail.model_validate(
        service.detail(db=db, settings=settings, referral=referral))


@router.get("/{referral_id}/recommendations", response_model=RecommendationPage,
            responses={503: {"description": "the recommender is unreachable"}})
def recommendations(referral_id: str, request: Request, db: DbSession, settings: SettingsDep,
                    caller: CurrentUser, k: int = Query(10, ge=1, le=50),
                    max_km: float | None = Query(
                        None, gt=0, le=MAX_TRAVEL_KM,
                        description="the patient's travel limit: specialists farther from "
                                    "the patient's home region are left out")
                    ) -> RecommendationPage:
    """Ranked practitioners for this referral, best first, from the registered model."""
    return service.recommendations(db=db, settings=settings, serving=request.app.state.serving,
                                   caller=caller, referral_id=referral_id, k=k, max_km=max_km,
                                   request_id=request.headers.get("X-Request-ID"))


def _step(action: str, body: object, referral_id: str, db: DbSession, settings: SettingsDep,
          caller: CurrentUser) -> ReferralRead:
    return service.named(settings, service.transition(
        db=db, settings=settings, caller=caller, referral_id=referral_id, action=action,
        body=body))


@router.post("/{referral_id}/choose", response_model=ReferralRead, responses=STEP)
def choose(referral_id: str, data: ChoosePractitioner, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ReferralRead:
    """The requesting clinician chooses a practitioner (usually one of the suggestions)."""
    return _step("choose", data, referral_id, db, settings, caller)


@router.post("/{referral_id}/accept", response_model=ReferralRead, responses=STEP)
def accept(referral_id: str, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ReferralRead:
    """The receiving institution (specialist or scheduler) accepts."""
    return _step("accept", None, referral_id, db, settings, caller)


@router.post("/{referral_id}/decline", response_model=ReferralRead, responses=STEP)
def decline(referral_id: str, data: Decline, db: DbSession, settings: SettingsDep,
            caller: CurrentUser) -> ReferralRead:
    """The receiving institution declines, with a reason; the requester may choose again."""
    return _step("decline", data, referral_id, db, settings, caller)


@router.post("/{referral_id}/schedule", response_model=ReferralRead, responses=STEP)
def schedule_visit(referral_id: str, data: ScheduleVisit, db: DbSession,
                   settings: SettingsDep, caller: CurrentUser) -> ReferralRead:
    """Book the visit (a FHIR Appointment) at the receiving institution."""
    return _step("schedule", data, referral_id, db, settings, caller)


@router.post("/{referral_id}/arrive", response_model=ReferralRead, responses=STEP)
def arrive(referral_id: str, db: DbSession, settings: SettingsDep,
           caller: CurrentUser) -> ReferralRead:
    """The patient has arrived: the appointment is arrived and an Encounter opens."""
    return _step("arrive", None, referral_id, db, settings, caller)


@router.post("/{referral_id}/complete", response_model=ReferralRead, responses=STEP)
def complete(referral_id: str, db: DbSession, settings: SettingsDep, caller: CurrentUser,
             data: Note | None = None) -> ReferralRead:
    """The specialist has completed the care asked for."""
    return _step("complete", data, referral_id, db, settings, caller)


@router.post("/{referral_id}/refer-back", response_model=ReferralRead, responses=STEP)
def refer_back(referral_id: str, data: ReferBack, db: DbSession, settings: SettingsDep,
               caller: CurrentUser) -> ReferralRead:
    """Down-referral to the community with the discharge summary and follow-up plan."""
    return _step("refer-back", data, referral_id, db, settings, caller)


@router.post("/{referral_id}/close", response_model=ReferralRead, responses=STEP)
def close(referral_id: str, db: DbSession, settings: SettingsDep,
          caller: CurrentUser) -> ReferralRead:
    """The community takes the patient back: the loop is closed."""
    return _step("close", None, referral_id, db, settings, caller)


@router.post("/{referral_id}/cancel", response_model=ReferralRead, responses=STEP)
def cancel(referral_id: str, db: DbSession, settings: SettingsDep, caller: CurrentUser,
           data: Decline | None = None) -> ReferralRead:
    """The requester withdraws the referral before the patient arrives."""
    return _step("cancel", data, referral_id, db, settings, caller)
