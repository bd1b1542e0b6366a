"""/referrals routes: validate, call the service, return a schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.referral import service
from collaboration_api.referral.schemas import RecommendationPage, ReferralCreate, ReferralRead

router = APIRouter(prefix="/referrals", tags=["referral"])


@router.post("", status_code=201, response_model=ReferralRead,
             responses={409: {"description": "same Idempotency-Key still in flight"},
                        422: {"description": "invalid body, or key reused with another body"}})
def create_referral(
    data: ReferralCreate,
    db: DbSession,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    status, body = service.create_referral(db=db, settings=settings, data=data,
                                           idempotency_key=idempotency_key)
    return JSONResponse(body, status_code=status)


@router.get("/{referral_id}", response_model=ReferralRead)
def read_referral(referral_id: str, db: DbSession) -> ReferralRead:
    return ReferralRead.model_validate(service.get_referral(db=db, referral_id=referral_id))


@router.get("/{referral_id}/recommendations", response_model=RecommendationPage)
def recommendations(referral_id: str, request: Request, db: DbSession, settings: SettingsDep,
                    k: int = Query(10, ge=1, le=50)) -> RecommendationPage:
    return service.recommendations(db=db, settings=settings,
                                   serving=request.app.state.serving, referral_id=referral_id,
                                   k=k, request_id=request.headers.get("X-Request-ID"))
