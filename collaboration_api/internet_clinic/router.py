"""/internet-clinic routes: follow-up plans, visits, renewals, reminders."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.internet_clinic import service
from collaboration_api.internet_clinic.schemas import (
    ObservationRead,
    PlanCreate,
    PlanDetail,
    PlanPage,
    PlanRead,
    ReminderRead,
    RenewalCreate,
    RenewalRead,
    VisitCreate,
    VisitRead,
)
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses

router = APIRouter(prefix="/internet-clinic", tags=["internet-clinic"],
                   responses=responses(401, 403, 404, 429))


@router.post("/plans", status_code=201, response_model=PlanRead, responses=responses(422))
def create_plan(data: PlanCreate, db: DbSession, settings: SettingsDep,
                caller: CurrentUser) -> PlanRead:
    """Enrol a patient of the caller's institution in chronic-disease follow-up."""
    return PlanRead.model_validate(service.create_plan(db=db, settings=settings,
                                                       caller=caller, data=data))


@router.get("/plans", response_model=PlanPage)
def list_plans(db: DbSession, caller: CurrentUser, cursor: str | None = None,
               limit: int = Query(50, ge=1, le=MAX_PAGE)) -> PlanPage:
    rows, nxt = service.list_plans(db=db, caller=caller, cursor=cursor, limit=limit)
    return PlanPage(items=[PlanRead.model_validate(p) for p in rows], next=nxt)


@router.get("/plans/{plan_id}", response_model=PlanDetail)
def read_plan(plan_id: str, db: DbSession, caller: CurrentUser) -> PlanDetail:
    """The plan with its visits and the patient's recent observations."""
    plan, visits, obs = service.get_plan(db=db, caller=caller, plan_id=plan_id)
    return PlanDetail.model_validate({
        **PlanRead.model_validate(plan).model_dump(),
        "visits": [VisitRead.model_validate(v) for v in visits],
        "recent_observations": [ObservationRead.model_validate(o) for o in obs]})


@router.post("/plans/{plan_id}/visits", status_code=201, response_model=VisitRead,
             responses=responses(422))
def record_visit(plan_id: str, data: VisitCreate, db: DbSession,
                 caller: CurrentUser) -> VisitRead:
    """A follow-up visit (online or in person) with its observations."""
    return VisitRead.model_validate(service.record_visit(db=db, caller=caller,
                                                         plan_id=plan_id, data=data))


@router.post("/renewals", status_code=201, response_model=RenewalRead,
             responses=responses(422))
def request_renewal(data: RenewalCreate, db: DbSession, caller: CurrentUser) -> RenewalRead:
    """A prescription renewal checked by the condition's rules: `decision` is approved or
    refused, `reasons` names every rule that failed."""
    return RenewalRead.model_validate(service.request_renewal(db=db, caller=caller, data=data))


@router.get("/reminders", response_model=list[ReminderRead])
def reminders(db: DbSession, caller: CurrentUser) -> list[ReminderRead]:
    """Follow-ups of the caller's institution due within a week or overdue."""
    return [_reminder(p, d) for p, d in service.reminders(db=db, caller=caller)]


@router.post("/reminders/send", response_model=list[ReminderRead])
def send_reminders(db: DbSession, caller: CurrentUser) -> list[ReminderRead]:
    """Notify the institution's clinicians of due follow-ups not yet reminded."""
    return [_reminder(p, d) for p, d in service.reminders(db=db, caller=caller, send=True)]


def _reminder(plan, overdue: int) -> ReminderRead:  # type: ignore[no-untyped-def]
    return ReminderRead(plan_id=plan.id, patient_id=plan.patient_id, condition=plan.condition,
                        next_due=plan.next_due, overdue_days=overdue)
