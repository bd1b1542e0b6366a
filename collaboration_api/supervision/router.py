"""/supervision: the audit trail, key figures by institution/region/period, SLA alerts."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses
from collaboration_api.supervision import drift, metrics, service
from collaboration_api.supervision import kpis as kpi_module
from collaboration_api.supervision.schemas import (
    AlertRead,
    AuditEventPage,
    AuditEventRead,
    DriftRead,
    KpiRead,
)

router = APIRouter(prefix="/supervision", tags=["supervision"],
                   responses=responses(401, 403), lifespan=metrics.lifespan)
SCOPE = responses(404, 422)


@router.get("/audit", response_model=AuditEventPage)
def audit_events(
    caller: CurrentUser,
    db: DbSession,
    entity_type: str | None = Query(None, examples=["ServiceRequest"]),
    entity_id: str | None = None,
    actor: str | None = Query(None, description="username or user id"),
    outcome: Literal["0", "4", "8"] | None = Query(None, description="0 ok, 4 denied"),
    patient_ref: str | None = Query(None, description="a patient's regional pseudonym: "
                                                      "who saw this patient's records"),
    grant_id: str | None = Query(None, max_length=32,
                                 description="the ledger grant a cross-institution read "
                                             "was made under"),
    purpose: str | None = Query(None, max_length=24, examples=["referral"],
                                description="purpose of use of that grant"),
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    cursor: str | None = None,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> AuditEventPage:
    rows, nxt = service.query_audit(db=db, caller=caller, entity_type=entity_type,
                                    entity_id=entity_id, actor=actor, outcome=outcome,
                                    cursor=cursor, limit=limit, patient_ref=patient_ref,
                                    since=since, until=until, grant_id=grant_id,
                                    purpose=purpose)
    return AuditEventPage(items=[AuditEventRead.model_validate(r) for r in rows], next=nxt)


def _kpis(caller: CurrentUser, db: DbSession, institution: str | None, region: str | None,
          start: datetime | None, end: datetime | None) -> dict:
    return service.kpis(db=db, caller=caller, institution=institution, region=region,
                        start=start, end=end)


@router.get("/kpis", response_model=KpiRead, responses=SCOPE)
def kpis(caller: CurrentUser, db: DbSession,
         institution: str | None = Query(None, examples=["R1-T1"]),
         region: str | None = Query(None, examples=["R1"]),
         start: AwareDatetime | None = None, end: AwareDatetime | None = None) -> KpiRead:
    """Key figures of one institution, a region or (admins) the alliance over a period
    (start inclusive, end exclusive); definitions in the module doc of
    `collaboration_api.supervision.kpis`. Supervisors default to their institution."""
    return KpiRead.model_validate(_kpis(caller, db, institution, region, start, end))


@router.get("/kpis.csv", response_class=Response, responses={
    **SCOPE, 200: {"content": {"text/csv": {}}, "description": "figure,model_version,value"}})
def kpis_csv(caller: CurrentUser, db: DbSession, institution: str | None = None,
             region: str | None = None, start: AwareDatetime | None = None,
             end: AwareDatetime | None = None) -> Response:
    """The same figures as CSV (one line per figure)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        kpi_module.csv_rows(_kpis(caller, db, institution, region, start, end)))
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="kpis.csv"'})


@router.get("/alerts", response_model=list[AlertRead], responses=SCOPE)
def alerts(caller: CurrentUser, db: DbSession, settings: SettingsDep,
           institution: str | None = None, region: str | None = None) -> list[AlertRead]:
    """Open SLA breaches (acceptance of referrals, consultation opinions, imaging reports)
    owed by institutions in scope, longest first; and `model.drift` while the champion
    referral model's worst feature PSI is above the threshold (see `/supervision/drift`)."""
    return [AlertRead.model_validate(a) for a in service.alerts(
        db=db, caller=caller, institution=institution, region=region, settings=settings)]


@router.get("/drift", response_model=DriftRead, responses=responses(404, 422))
def feature_drift(caller: CurrentUser, db: DbSession, settings: SettingsDep,
                  days: int = Query(drift.RECENT_DAYS, ge=1, le=365,
                                    description="length of the recent window"),
                  end: AwareDatetime | None = Query(None, description="end of the recent "
                                                                       "window (now)")
                  ) -> DriftRead:
    """Feature drift of the champion referral model: the population stability index of
    each feature it reads, the recent window against its training window (numeric
    features in the training deciles). PSI above 0.2 raises a `model.drift` alert.
    404 when there is no champion or too little data. Cached for a minute."""
    return DriftRead.model_validate(service.feature_drift(db=db, caller=caller,
                                                          settings=settings, days=days,
                                                          end=end))
