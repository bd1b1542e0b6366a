"""The scheduling board: schedulers in the loop of the specialist scheduler (issue 6).

A receiving institution's open requests are its accepted referrals awaiting a slot. The
board re-plans them all (``serving``'s ``SpecialistScheduler``: batch optimiser over the
institution's free slots, minus active appointments and live holds; the plain
``SchedulerPredictor`` in this process when Serve is down, marked degraded) and shows one
suggestion per request with its reasons. A scheduler then:

- accepts (the suggestion, or a given slot): a HOLD on the slot for
  ``settings.schedule_hold_minutes``; concurrent accepts of one slot race on a unique key
  (``schedule_hold_slot``), so the database admits exactly one and the others get 409;
- adjusts: releases the hold (if any) and holds another slot they picked;
- rejects, with a reason: releases the hold; the slot is not suggested again for it;
- confirms: books the Appointment through ``schedule.service.book`` (409 if taken) and
  moves the referral to ``scheduled``.

A hold not confirmed in time expires (checked on every board call). Every decision is a
``ScheduleDecision`` row: the labels ``training.decisions`` reads for retraining.
Cross-area (schedule + referral), hence a flows module.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.db import as_utc
from collaboration_api.directory import service as directory
from collaboration_api.problems import Problem
from collaboration_api.referral.models import Referral
from collaboration_api.referral.service import FLOW as REFERRAL_FLOW
from collaboration_api.schedule import service as booking
from collaboration_api.schedule.models import (
    Appointment,
    ScheduleDecision,
    ScheduleHold,
    ScheduleHoldSlot,
    ScheduleSuggestionLog,
)
from collaboration_api.schedule.schemas import (
    BoardItem,
    BoardRead,
    BoardSuggestion,
    ConfirmRead,
    FreeSlot,
    HoldRead,
    PractitionerSlots,
)
from collaboration_api.serving_client import ServingClient, ServingUnavailable
from collaboration_api.supervision import audit
from collaboration_api.workflow import service as workflow
from collaboration_api.workflow.service import Transition
from regioncare.settings import Settings
from serving.schemas import (
    ExcludedSlot,
    ReplanRequest,
    ReplanResponse,
    SchedulePractitioner,
    ScheduleRequestItem,
    ScheduleSlot,
)

ROLES = ("scheduler", "admin")
UNIT = timedelta(minutes=30)
HORIZON = timedelta(days=28)
TIERS = {1: "community", 2: "secondary", 3: "tertiary"}
# The board's confirm is the referral's "schedule" step, taken by the receiving
# institution's schedulers or admins.
BOARD_FLOW = dataclasses.replace(REFERRAL_FLOW, transitions={
    **REFERRAL_FLOW.transitions,
    "schedule": Transition("schedule", ("accepted",), "scheduled", "target", ROLES)})


def utc(t: datetime) -> datetime:
    """UTC to the second: SQLite stores naive text, so one instant must have one spelling
    for the unique key to see two holds of one slot as the same."""
    return (as_utc(t) or t).astimezone(UTC).replace(microsecond=0)


# ----------------------------------------------------------------------------- the solver
class BoardSolver:
    """The scheduler on Ray Serve, or the same plain class here when Serve is down."""

    def __init__(self, settings: Settings, serving: ServingClient, holder: Any) -> None:
        self.settings, self.serving, self.holder = settings, serving, holder

    _lock = threading.Lock()

    def _fallback(self) -> Any:
        from serving.scheduler import SchedulerPredictor

        with self._lock:
            predictor = getattr(self.holder, "scheduler_fallback", None)
            if predictor is None:
                predictor = SchedulerPredictor(self.settings)
                self.holder.scheduler_fallback = predictor
        return predictor

    def replan(self, req: ReplanRequest, request_id: str | None) -> ReplanResponse:
        try:
            return self.serving.schedule_replan(req, request_id=request_id)
        except ServingUnavailable as exc:
            result = self._fallback().replan(req)
            reason = f"scheduler service unavailable ({str(exc)[:120]}); planned in the API"
            result.degraded = True
            result.degraded_reason = "; ".join(x for x in (reason, result.degraded_reason)
                                               if x)
            return result


# ----------------------------------------------------------------------------- directory
@dataclasses.dataclass
class Site:
    institution_id: str
    tier: str
    lat: float | None
    lon: float | None
    specialty: dict[str, str]  # practitioner -> specialty
    free: dict[str, list[tuple[datetime, str]]]  # practitioner -> [(start UTC, slot id)]


def load_site(settings: Settings, institution_id: str, now: datetime) -> Site:
    """Practitioners and free slots (from ``now`` on) from the institution's record store."""
    specialty: dict[str, str] = {}
    sched_of: dict[str, str] = {}
    raw_slots: list[dict] = []
    lat = lon = None
    tier = TIERS.get(directory.institution_tier(institution_id), "tertiary")
    if institution_id in directory.institutions(settings):
        with directory._store(settings, institution_id) as store:
            for _rid, rtype, body in store.iter_records():
                if rtype not in ("PractitionerRole", "Schedule", "Slot", "Location",
                                 "Organization"):
                    continue
                rec = json.loads(body)
                if rtype == "PractitionerRole" and rec.get("specialty"):
                    specialty.setdefault(str(rec["practitioner"]), str(rec["specialty"]))
                elif rtype == "Schedule":
                    sched_of[str(rec["id"])] = str(rec.get("practitioner") or "")
                elif rtype == "Slot" and rec.get("status") == "free":
                    raw_slots.append(rec)
                elif rtype == "Location" and lat is None:
                    lat, lon = rec.get("lat"), rec.get("lon")
                elif rtype == "Organization" and rec.get("tier") in TIERS:
                    tier = TIERS[int(rec["tier"])]
    free: dict[str, list[tuple[datetime, str]]] = {}
    end = now + HORIZON
    for rec in raw_slots:
        pid = str(rec.get("practitioner") or sched_of.get(str(rec.get("schedule")), ""))
        start = utc(datetime.fromisoformat(str(rec["start"]).replace("Z", "+00:00")))
        if pid in specialty and now <= start < end:
            free.setdefault(pid, []).append((start, str(rec["id"])))
    for items in free.values():
        items.sort()
    return Site(institution_id, tier, lat, lon, specialty, free)


def taken_units(db: Session, practitioner_ids: list[str], now: datetime
                ) -> set[tuple[str, datetime]]:
    """(practitioner, 30-minute start) covered by an active appointment or a live hold."""
    out: set[tuple[str, datetime]] = set()
    if not practitioner_ids:
        return out
    appts = db.execute(select(Appointment.practitioner_id, Appointment.start, Appointment.end)
                       .where(Appointment.practitioner_id.in_(practitioner_ids),
                              Appointment.status.in_(("booked", "arrived")),
                              Appointment.end > now - UNIT))
    for pid, start, end in appts:
        t, stop = utc(start), utc(end)
        while t < stop:
            out.add((pid, t))
            t += UNIT
    held = db.execute(select(ScheduleHoldSlot.practitioner_id, ScheduleHoldSlot.slot_start)
                      .where(ScheduleHoldSlot.practitioner_id.in_(practitioner_ids)))
    out |= {(pid, utc(t)) for pid, t in held}
    return out


# ----------------------------------------------------------------------------- helpers
def _require_role(db: Session, caller: Caller) -> None:
    if not caller.has_role(*ROLES):
        audit.deny(db, caller, 403, f"a {caller.role} may not use the scheduling board; "
                                    f"allowed: {', '.join(ROLES)}", entity_type="Slot",
                   entity_institution=caller.institution_id)


def _own_request(db: Session, caller: Caller, request_id: str, *, action: str = "U"
                 ) -> Referral:
    """An accepted referral to the caller's institution; 404 (audited) for anything else,
    so other institutions' ids reveal nothing."""
    _require_role(db, caller)
    referral = db.get(Referral, request_id)
    if referral is None or referral.target_institution_id != caller.institution_id:
        audit.deny(db, caller, 404, f"no open request {request_id}", entity_type="Slot",
                   entity_id=request_id, action=action,
                   entity_institution=caller.institution_id)
    if referral.business_status != "accepted":
        audit.deny(db, caller, 409, f"request {request_id} is {referral.business_status}, "
                                    "not awaiting a slot", entity_type="Slot",
                   entity_id=request_id, patient_ref=referral.patient_ref, action=action,
                   entity_institution=caller.institution_id, title="Conflict")
    return referral


def _live_hold(db: Session, referral_id: str) -> ScheduleHold | None:
    return db.scalars(select(ScheduleHold).where(ScheduleHold.referral_id == referral_id,
                                                 ScheduleHold.status == "held")).first()


def _last_suggestion(db: Session, referral_id: str) -> ScheduleSuggestionLog | None:
    return db.scalars(select(ScheduleSuggestionLog).where(
        ScheduleSuggestionLog.referral_id == referral_id).order_by(
        ScheduleSuggestionLog.id.desc())).first()


def _decide(db: Session, caller: Caller | None, *, referral_id: str, institution_id: str,
            practitioner_id: str, start: datetime, minutes: int, decision: str, now: datetime,
            reason: str | None = None, hold_id: str | None = None) -> ScheduleDecision:
    last = _last_suggestion(db, referral_id)
    suggested = bool(last and last.practitioner_id == practitioner_id
                     and utc(last.start) == utc(start))
    row = ScheduleDecision(
        referral_id=referral_id, institution_id=institution_id,
        practitioner_id=practitioner_id, start=utc(start), minutes=minutes, decision=decision,
        suggested=suggested, score=last.score if suggested and last else None,
        no_show_risk=last.no_show_risk if last else None,
        model_version=last.model_version if last else None, reason=reason, hold_id=hold_id,
        actor_id=caller.id if caller else None, at=now)
    db.add(row)
    return row


def _end_hold(db: Session, hold: ScheduleHold, status: str) -> bool:
    """Move a live hold to ``status`` and free its slots; False if it was no longer live
    (another request ended it first)."""
    moved = db.execute(update(ScheduleHold).where(ScheduleHold.id == hold.id,
                                                  ScheduleHold.status == "held")
                       .values(status=status).execution_options(synchronize_session=False))
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.execute(delete(ScheduleHoldSlot).where(ScheduleHoldSlot.hold_id == hold.id))
    hold.status = status
    return True


def expire_holds(db: Session, now: datetime, institution_id: str | None = None) -> int:
    """End every hold past its time; each expiry is a decision (no actor: the clock)."""
    stmt = select(ScheduleHold).where(ScheduleHold.status == "held",
                                      ScheduleHold.expires_at <= now)
    if institution_id is not None:
        stmt = stmt.where(ScheduleHold.institution_id == institution_id)
    n = 0
    for hold in db.scalars(stmt).all():
        if _end_hold(db, hold, "expired"):
            _decide(db, None, referral_id=hold.referral_id, institution_id=hold.institution_id,
                    practitioner_id=hold.practitioner_id, start=hold.start,
                    minutes=hold.minutes, decision="expired", now=now, hold_id=hold.id)
            n += 1
    return n


# ----------------------------------------------------------------------------- the board
def board(*, db: Session, settings: Settings, caller: Caller, solver: BoardSolver,
          now: datetime, request_id: str | None = None) -> BoardRead:
    """Suggestions for every open request of the caller's institution."""
    _require_role(db, caller)
    inst = caller.institution_id
    now = utc(now)
    expire_holds(db, now, inst)
    db.commit()
    referrals = list(db.scalars(select(Referral).where(
        Referral.target_institution_id == inst, Referral.business_status == "accepted")
        .order_by(Referral.created_at, Referral.id)))
    holds = {h.referral_id: h for h in db.scalars(select(ScheduleHold).where(
        ScheduleHold.institution_id == inst, ScheduleHold.status == "held"))}
    site = load_site(settings, inst, now)
    taken = taken_units(db, list(site.specialty), now)
    rejected: dict[str, list[ExcludedSlot]] = {}
    if referrals:
        for d in db.scalars(select(ScheduleDecision).where(
                ScheduleDecision.referral_id.in_([r.id for r in referrals]),
                ScheduleDecision.decision == "rejected")):
            rejected.setdefault(d.referral_id, []).append(
                ExcludedSlot(practitioner_id=d.practitioner_id, start=utc(d.start)))

    def specialty_of(r: Referral) -> str | None:
        return site.specialty.get(r.target_practitioner_id or "")

    open_ = [r for r in referrals if r.id not in holds and specialty_of(r)]
    req = ReplanRequest(
        now=now, time_limit_s=settings.schedule_board_time_limit_s,
        requests=[ScheduleRequestItem(
            id=r.id, specialty=specialty_of(r) or "", urgency=r.urgency,
            created=utc(r.created_at), patient_id=r.patient_ref,
            diagnosis_code=r.diagnosis_code,
            # The clinician chose this specialist and the institution accepted: the best
            # match; colleagues of the same specialty get the default quality.
            match_quality={r.target_practitioner_id: 1.0} if r.target_practitioner_id else {},
            exclude=rejected.get(r.id, [])) for r in open_],
        practitioners=[SchedulePractitioner(
            # The API does not know patients' languages: everyone speaks the default.
            id=pid, institution_id=inst, tier=site.tier, specialties=[spec], languages=["zh"],
            lat=site.lat, lon=site.lon) for pid, spec in sorted(site.specialty.items())],
        slots=[ScheduleSlot(id=sid, practitioner_id=pid, start=start,
                            booked=int((pid, start) in taken))
               for pid, items in sorted(site.free.items()) for start, sid in items])
    result = solver.replan(req, request_id)
    by_request = {s.request_id: s for s in result.suggestions}
    estimate = {e.request_id: e for e in result.estimates}
    items = []
    for r in referrals:
        sug = by_request.get(r.id)
        est = estimate.get(r.id)
        hold = holds.get(r.id)
        reason = None
        if hold is None and sug is None:
            reason = (result.unassigned.get(r.id) if specialty_of(r)
                      else "the chosen practitioner is not in this institution's directory")
        if sug is not None:
            db.add(ScheduleSuggestionLog(
                referral_id=r.id, institution_id=inst, practitioner_id=sug.practitioner_id,
                start=utc(sug.start), minutes=sug.minutes, score=sug.score,
                no_show_risk=est.no_show_risk if est else None,
                model_version=result.model_version, degraded=result.degraded, created_at=now))
        items.append(BoardItem(
            request_id=r.id, patient_ref=r.patient_ref, urgency=r.urgency,
            diagnosis_code=r.diagnosis_code, specialty=specialty_of(r),
            chosen_practitioner_id=r.target_practitioner_id, created_at=r.created_at,
            duration_slots=(hold.minutes // 30 if hold else est.duration_slots if est else 1),
            no_show_risk=est.no_show_risk if est else None,
            suggestion=BoardSuggestion(
                practitioner_id=sug.practitioner_id, institution_id=sug.institution_id,
                start=utc(sug.start), end=utc(sug.start) + timedelta(minutes=sug.minutes),
                minutes=sug.minutes, slot_ids=sug.slot_ids, score=sug.score,
                reasons=sug.reasons) if sug else None,
            unassigned_reason=reason, hold=HoldRead.model_validate(hold) if hold else None))
    audit.record(db, caller, action="R", subtype="schedule.board", entity_type="Slot",
                 entity_institution=inst,
                 detail=f"{len(items)} open requests, {len(by_request)} suggestions, "
                        f"model {result.model_version}, degraded={result.degraded}")
    db.commit()
    return BoardRead(institution_id=inst, generated_at=now, model_version=result.model_version,
                     degraded=result.degraded, degraded_reason=result.degraded_reason,
                     items=items)


def _check_slot(db: Session, settings: Settings, caller: Caller, referral: Referral,
                practitioner_id: str, start: datetime, minutes: int, now: datetime
                ) -> None:
    """The slot is the institution's, free in its schedule, in the future and not booked."""
    site = load_site(settings, caller.institution_id, now)
    if practitioner_id not in site.specialty:
        raise Problem(422, "Unknown practitioner",
                      f"no practitioner {practitioner_id!r} at {caller.institution_id}")
    free = {t for t, _sid in site.free.get(practitioner_id, [])}
    units = [start + k * UNIT for k in range(max(1, minutes // 30))]
    if any(u not in free for u in units):
        raise Problem(422, "Not a free slot",
                      f"{practitioner_id} has no free {minutes}-minute slot at "
                      f"{start:%Y-%m-%d %H:%M}Z in the schedule")
    taken = taken_units(db, [practitioner_id], now)
    if any((practitioner_id, u) in taken for u in units):
        audit.deny(db, caller, 409, f"{practitioner_id} at {start:%Y-%m-%d %H:%M}Z is booked "
                                    "or held", entity_type="Slot", entity_id=referral.id,
                   patient_ref=referral.patient_ref, action="U",
                   entity_institution=caller.institution_id, title="Slot taken")


def _place_hold(db: Session, settings: Settings, caller: Caller, referral: Referral,
                practitioner_id: str, start: datetime, minutes: int, now: datetime
                ) -> ScheduleHold:
    hold = ScheduleHold(id=str(uuid.uuid4()), referral_id=referral.id,
                        institution_id=caller.institution_id, practitioner_id=practitioner_id,
                        start=start, minutes=minutes, status="held",
                        expires_at=now + timedelta(minutes=settings.schedule_hold_minutes),
                        created_by=caller.id, created_at=now)
    db.add(hold)
    db.add_all([ScheduleHoldSlot(hold_id=hold.id, practitioner_id=practitioner_id,
                                 slot_start=start + k * UNIT)
                for k in range(max(1, minutes // 30))])
    rid, ref = referral.id, referral.patient_ref  # a failed flush expires loaded objects
    try:
        db.flush()  # the unique key on (practitioner, slot) decides between racing accepts
    except IntegrityError as exc:
        if "schedule_hold_slot" not in str(exc.orig).lower():
            raise
        audit.deny(db, caller, 409, f"{practitioner_id} at {start:%Y-%m-%d %H:%M}Z is held "
                                    "by another request", entity_type="Slot", entity_id=rid,
                   patient_ref=ref, action="U", entity_institution=caller.institution_id,
                   title="Slot held")
    return hold


def _slot_of(db: Session, referral: Referral, practitioner_id: str | None,
             start: datetime | None, minutes: int | None) -> tuple[str, datetime, int]:
    if practitioner_id and start:
        last = _last_suggestion(db, referral.id)
        same = last and last.practitioner_id == practitioner_id and utc(last.start) == utc(
            start)
        return practitioner_id, utc(start), minutes or (last.minutes if same and last else 30)
    if practitioner_id or start:
        raise Problem(422, "Slot incomplete", "give both practitioner_id and start, or "
                                              "neither to take the board's suggestion")
    last = _last_suggestion(db, referral.id)
    if last is None:
        raise Problem(409, "No suggestion", "the board has not suggested a slot for this "
                                            "request yet: open the board, or give a slot")
    return last.practitioner_id, utc(last.start), minutes or last.minutes


def _request_and_hold(db: Session, caller: Caller, request_id: str, now: datetime
                      ) -> tuple[Referral, ScheduleHold | None]:
    """The caller's request and its live hold, after expired holds were ended."""
    referral = _own_request(db, caller, request_id)
    expire_holds(db, now, caller.institution_id)
    return referral, _live_hold(db, referral.id)


def accept(*, db: Session, settings: Settings, caller: Caller, request_id: str,
           practitioner_id: str | None, start: datetime | None, minutes: int | None,
           now: datetime) -> ScheduleHold:
    """Hold the suggested (or given) slot for this request until the hold expires."""
    now = utc(now)
    referral, held = _request_and_hold(db, caller, request_id, now)
    if held is not None:
        raise Problem(409, "Already held", f"request {request_id} holds {held.practitioner_id}"
                                           f" at {utc(held.start):%Y-%m-%d %H:%M}Z until "
                                           f"{utc(held.expires_at):%H:%M}Z: confirm, adjust "
                                           "or reject it")
    pid, begin, mins = _slot_of(db, referral, practitioner_id, start, minutes)
    _check_slot(db, settings, caller, referral, pid, begin, mins, now)
    hold = _place_hold(db, settings, caller, referral, pid, begin, mins, now)
    _decide(db, caller, referral_id=referral.id, institution_id=caller.institution_id,
            practitioner_id=pid, start=begin, minutes=mins, decision="accepted", now=now,
            hold_id=hold.id)
    audit.record(db, caller, action="U", subtype="schedule.accept", entity_type="Slot",
                 entity_id=referral.id, patient_ref=referral.patient_ref,
                 entity_institution=caller.institution_id,
                 detail=f"hold {pid} at {begin:%Y-%m-%d %H:%M}Z for {mins} min")
    db.commit()
    return hold


def adjust(*, db: Session, settings: Settings, caller: Caller, request_id: str,
           practitioner_id: str, start: datetime, minutes: int | None, reason: str | None,
           now: datetime) -> ScheduleHold:
    """Release this request's hold (if any) and hold the slot the scheduler picked."""
    now = utc(now)
    referral, held = _request_and_hold(db, caller, request_id, now)
    if held is not None:
        _end_hold(db, held, "released")
    pid, begin, mins = _slot_of(db, referral, practitioner_id, start, minutes)
    if held is not None and minutes is None:
        mins = held.minutes  # the length was already settled
    _check_slot(db, settings, caller, referral, pid, begin, mins, now)
    hold = _place_hold(db, settings, caller, referral, pid, begin, mins, now)
    _decide(db, caller, referral_id=referral.id, institution_id=caller.institution_id,
            practitioner_id=pid, start=begin, minutes=mins, decision="adjusted", now=now,
            reason=reason, hold_id=hold.id)
    audit.record(db, caller, action="U", subtype="schedule.adjust", entity_type="Slot",
                 entity_id=referral.id, patient_ref=referral.patient_ref,
                 entity_institution=caller.institution_id,
                 detail=f"hold {pid} at {begin:%Y-%m-%d %H:%M}Z instead")
    db.commit()
    return hold


def reject(*, db: Session, caller: Caller, request_id: str, reason: str, now: datetime
           ) -> ScheduleDecision:
    """Reject the held slot, or else the current suggestion; it is not suggested again."""
    now = utc(now)
    referral, held = _request_and_hold(db, caller, request_id, now)
    if held is not None:
        _end_hold(db, held, "released")
        pid, begin, mins = held.practitioner_id, utc(held.start), held.minutes
    else:
        last = _last_suggestion(db, referral.id)
        if last is None:
            raise Problem(409, "Nothing to reject", "no hold and no suggestion for request "
                                                    f"{request_id}")
        pid, begin, mins = last.practitioner_id, utc(last.start), last.minutes
    row = _decide(db, caller, referral_id=referral.id, institution_id=caller.institution_id,
                  practitioner_id=pid, start=begin, minutes=mins, decision="rejected",
                  now=now, reason=reason, hold_id=held.id if held else None)
    audit.record(db, caller, action="U", subtype="schedule.reject", entity_type="Slot",
                 entity_id=referral.id, patient_ref=referral.patient_ref,
                 entity_institution=caller.institution_id, detail=reason[:200])
    db.commit()
    return row


def confirm(*, db: Session, caller: Caller, request_id: str, now: datetime) -> ConfirmRead:
    """Book the held slot: an Appointment (409 if taken meanwhile); the referral is
    scheduled."""
    now = utc(now)
    referral, hold = _request_and_hold(db, caller, request_id, now)
    if hold is None:
        db.commit()  # the expiries found here stand
        last = db.scalars(select(ScheduleHold).where(ScheduleHold.referral_id == referral.id)
                          .order_by(ScheduleHold.created_at.desc())).first()
        if last is not None and last.status == "expired":
            raise Problem(409, "Hold expired", f"the hold on {last.practitioner_id} at "
                                               f"{utc(last.start):%Y-%m-%d %H:%M}Z expired at "
                                               f"{utc(last.expires_at):%H:%M}Z: accept again")
        raise Problem(409, "No hold", f"request {request_id} holds no slot: accept first")
    _end_hold(db, hold, "confirmed")
    appt = booking.book(db, subject_type="referral", subject_id=referral.id,
                        institution_id=caller.institution_id,
                        requester_institution=referral.institution_id,
                        practitioner_id=hold.practitioner_id, patient_ref=referral.patient_ref,
                        start=utc(hold.start), minutes=hold.minutes)
    hold.appointment_id = appt.id
    referral.appointment_id = appt.id
    workflow.apply(db, caller, BOARD_FLOW, referral, "schedule",
                   detail={"appointment_id": appt.id, "start": utc(hold.start).isoformat(),
                           "via": "schedule board", "hold_id": hold.id})
    _decide(db, caller, referral_id=referral.id, institution_id=caller.institution_id,
            practitioner_id=hold.practitioner_id, start=hold.start, minutes=hold.minutes,
            decision="confirmed", now=now, hold_id=hold.id)
    db.commit()
    return ConfirmRead(request_id=referral.id, appointment_id=appt.id,
                       practitioner_id=hold.practitioner_id, start=utc(hold.start),
                       end=utc(hold.start) + timedelta(minutes=hold.minutes),
                       business_status=referral.business_status)


def practitioner_slots(*, db: Session, settings: Settings, caller: Caller,
                       practitioner_id: str, now: datetime, days: int) -> PractitionerSlots:
    """Free (not booked, not held) slots of one of the caller's institution's practitioners."""
    _require_role(db, caller)
    now = utc(now)
    expire_holds(db, now, caller.institution_id)
    site = load_site(settings, caller.institution_id, now)
    if practitioner_id not in site.specialty:
        audit.deny(db, caller, 404, f"no practitioner {practitioner_id} at "
                                    f"{caller.institution_id}", entity_type="Slot",
                   entity_id=practitioner_id, entity_institution=caller.institution_id)
    taken = taken_units(db, [practitioner_id], now)
    until = now + timedelta(days=days)
    items = [FreeSlot(slot_id=sid, start=t, end=t + UNIT)
             for t, sid in site.free.get(practitioner_id, [])
             if t < until and (practitioner_id, t) not in taken]
    audit.record(db, caller, action="R", subtype="schedule.slots", entity_type="Slot",
                 entity_id=practitioner_id, entity_institution=caller.institution_id,
                 detail=f"{len(items)} free slots")
    db.commit()
    return PractitionerSlots(practitioner_id=practitioner_id,
                             institution_id=caller.institution_id,
                             specialty=site.specialty.get(practitioner_id), items=items)

