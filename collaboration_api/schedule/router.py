"""/schedule routes: the scheduling board (schedulers and admins of the receiving
institution). Thin: validate, call ``schedule.flows``, return a schema."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Query, Request

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.db import utcnow
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.problems import responses
from collaboration_api.schedule import flows
from collaboration_api.schedule.schemas import (
    AdjustSlot,
    BoardRead,
    ConfirmRead,
    HoldRead,
    PractitionerSlots,
    RejectSuggestion,
    ScheduleDecisionRead,
    SlotChoice,
)

router = APIRouter(prefix="/schedule", tags=["schedule"],
                   responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


def _now(request: Request) -> datetime:
    # Tests inject a clock (app.state.schedule_clock) to let holds expire.
    clock: Callable[[], datetime] = getattr(request.app.state, "schedule_clock", None) \
        or utcnow
    return clock()


def _solver(request: Request, settings: SettingsDep) -> flows.BoardSolver:
    return flows.BoardSolver(settings, request.app.state.serving, request.app.state)


@router.get("/board", response_model=BoardRead)
def board(request: Request, db: DbSession, settings: SettingsDep,
          caller: CurrentUser) -> BoardRead:
    """Suggested slots for every accepted referral to the caller's institution that awaits
    one, best plan first (the batch optimiser over the free slots, bookings and holds), with
    reasons. `degraded` when the scheduler service or its model is unavailable."""
    return flows.board(db=db, settings=settings, caller=caller,
                       solver=_solver(request, settings), now=_now(request),
                       request_id=request.headers.get("X-Request-ID"))


@router.post("/board/{request_id}/accept", status_code=201, response_model=HoldRead,
             responses=STEP)
def accept(request_id: str, request: Request, db: DbSession, settings: SettingsDep,
           caller: CurrentUser, data: SlotChoice | None = None) -> HoldRead:
    """Hold the suggested slot (or the one given) until it expires
    (`schedule_hold_minutes`); of concurrent accepts of one slot exactly one wins, the
    others get 409."""
    data = data or SlotChoice()
    return HoldRead.model_validate(flows.accept(
        db=db, settings=settings, caller=caller, request_id=request_id,
        practitioner_id=data.practitioner_id, start=data.start, minutes=data.minutes,
        now=_now(request)))


@router.post("/board/{request_id}/adjust", status_code=201, response_model=HoldRead,
             responses=STEP)
def adjust(request_id: str, data: AdjustSlot, request: Request, db: DbSession,
           settings: SettingsDep, caller: CurrentUser) -> HoldRead:
    """Pick another slot (see `GET /schedule/practitioners/{id}/slots`): the request's hold,
    if any, is released and the new slot held."""
    return HoldRead.model_validate(flows.adjust(
        db=db, settings=settings, caller=caller, request_id=request_id,
        practitioner_id=data.practitioner_id, start=data.start, minutes=data.minutes,
        reason=data.reason, now=_now(request)))


@router.post("/board/{request_id}/reject", response_model=ScheduleDecisionRead,
             responses=STEP)
def reject(request_id: str, data: RejectSuggestion, request: Request, db: DbSession,
           caller: CurrentUser) -> ScheduleDecisionRead:
    """Reject the held slot, or the current suggestion, with a reason; that slot is not
    suggested for this request again."""
    return ScheduleDecisionRead.model_validate(flows.reject(
        db=db, caller=caller, request_id=request_id, reason=data.reason, now=_now(request)))


@router.post("/board/{request_id}/confirm", response_model=ConfirmRead, responses=STEP)
def confirm(request_id: str, request: Request, db: DbSession,
            caller: CurrentUser) -> ConfirmRead:
    """Book the held slot as an Appointment (409 if it was taken or the hold expired); the
    referral becomes `scheduled`."""
    return flows.confirm(db=db, caller=caller, request_id=request_id, now=_now(request))


@router.get("/practitioners/{practitioner_id}/slots", response_model=PractitionerSlots)
def practitioner_slots(practitioner_id: str, request: Request, db: DbSession,
                       settings: SettingsDep, caller: CurrentUser,
                       days: int = Query(14, ge=1, le=28)) -> PractitionerSlots:
    """Free slots (not booked, not held) of a practitioner of the caller's institution."""
    return flows.practitioner_slots(db=db, settings=settings, caller=caller,
                                    practitioner_id=practitioner_id, now=_now(request),
                                    days=days)
