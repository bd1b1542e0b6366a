"""Key figures for supervision, by institution, region and period, computed from the
stored events (nothing is counted twice: each figure reads one kind of event).

Scope: one institution, every institution of a region (codes ``<region>-...``) or the
whole alliance. Period: ``start <= t < end`` on the time named below.

* ``referrals_up``: referrals created in the period by an institution in scope.
* ``referrals_down``: down-referrals (``refer-back`` steps) taken in the period by an
  institution in scope.
* ``acceptance_rate``: accepted / (accepted + declined) decisions in the period on
  referrals sent to an institution in scope.
* ``time_to_accept_h``: mean hours from the (last) choice of the receiving practitioner to
  the acceptance, over acceptances in the period by an institution in scope.
* ``waiting_time_h``: mean hours from referral creation to the booked visit's start,
  over referral appointments booked in the period at an institution in scope.
* ``loop_closure_rate``: of the referrals sent by institutions in scope and completed in
  the period, the share whose specialist report came back (referred back).
* ``consult_turnaround_h``: mean hours from consultation request to the expert's opinion,
  over opinions given in the period by an institution in scope.
* ``imaging_turnaround_h``: mean hours from registration to report, over reports issued in
  the period by an institution in scope; ``imaging_reports``, ``imaging_critical``.
* ``teaching_attendances`` / ``teaching_participants`` / ``teaching_credits``: attendance
  rows, distinct attendees, credits awarded, in the period, of users of institutions in
  scope.
* ``model_suggestions``: per model version, of the practitioner choices made in the period
  for referrals and consultations sent by institutions in scope after that version's
  suggestions were shown, how many chose a suggested practitioner.
* ``sla_breaches``: open SLA alerts now (see ``alerts``) owned by institutions in scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collaboration_api.consult.models import Consult
from collaboration_api.db import as_utc, utcnow
from collaboration_api.imaging.models import ImagingReport, ImagingStudy
from collaboration_api.referral.models import (
    ConsultRecommendationLog,
    RecommendationLog,
    Referral,
)
from collaboration_api.schedule.models import Appointment
from collaboration_api.teaching.models import Attendance, Enrolment
from collaboration_api.workflow.models import RecommendationDecision, WorkflowEvent

# Service levels, hours from the start of the wait.
REFERRAL_ACCEPT_SLA_H = {"emergency": 2.0, "urgent": 24.0, "routine": 72.0}
CONSULT_OPINION_SLA_H = {"emergency": 4.0, "urgent": 24.0, "routine": 72.0}
IMAGING_REPORT_SLA_H = {"emergency": 1.0, "urgent": 4.0, "routine": 48.0}
FIGURES = ("referrals_up", "referrals_down", "acceptance_rate", "time_to_accept_h",
           "waiting_time_h", "loop_closure_rate", "consult_turnaround_h",
           "imaging_turnaround_h", "imaging_reports", "imaging_critical",
           "teaching_attendances", "teaching_participants", "teaching_credits",
           "sla_breaches")


@dataclass(frozen=True)
class Scope:
    institution: str | None = None
    region: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def has(self, code: str | None) -> bool:
        if code is None:
            return False
        if self.institution:
            return code == self.institution
        if self.region:
            return code.startswith(f"{self.region}-")
        return True

    def during(self, t: datetime | None) -> bool:
        t = as_utc(t)
        if t is None:
            return False
        return ((self.start is None or t >= as_utc(self.start))
                and (self.end is None or t < as_utc(self.end)))


def _hours(a: datetime | None, b: datetime | None) -> float:
    return (as_utc(b) - as_utc(a)).total_seconds() / 3600  # type: ignore[operator]


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _events(db: Session, subject_type: str, action: str) -> list[WorkflowEvent]:
    return list(db.scalars(select(WorkflowEvent).where(
        WorkflowEvent.subject_type == subject_type, WorkflowEvent.action == action)
        .order_by(WorkflowEvent.id)))


def figures(db: Session, scope: Scope, now: datetime | None = None) -> dict[str, Any]:
    referrals = {r.id: r for r in db.scalars(select(Referral))}
    out: dict[str, Any] = {}
    out["referrals_up"] = sum(1 for r in referrals.values()
                              if scope.has(r.institution_id) and scope.during(r.created_at))
    out["referrals_down"] = sum(1 for e in _events(db, "referral", "refer-back")
                                if scope.has(e.actor_institution) and scope.during(e.at))
    decisions = [d for d in db.scalars(select(RecommendationDecision).where(
        RecommendationDecision.subject_type == "referral",
        RecommendationDecision.decision.in_(("accepted", "declined"))))
        if scope.has(d.institution_id) and scope.during(d.at)]
    out["acceptance_rate"] = _rate(sum(d.decision == "accepted" for d in decisions),
                                   len(decisions))
    chosen: dict[str, list[WorkflowEvent]] = {}
    for e in _events(db, "referral", "choose"):
        chosen.setdefault(e.subject_id, []).append(e)
    waits = []
    for e in _events(db, "referral", "accept"):
        if scope.has(e.actor_institution) and scope.during(e.at):
            before = [c for c in chosen.get(e.subject_id, []) if c.id < e.id]
            if before:
                waits.append(_hours(before[-1].at, e.at))
    out["time_to_accept_h"] = _mean(waits)
    out["waiting_time_h"] = _mean([
        _hours(referrals[a.subject_id].created_at, a.start)
        for a in db.scalars(select(Appointment).where(Appointment.subject_type == "referral"))
        if a.subject_id in referrals and scope.has(a.institution_id)
        and scope.during(a.created_at)])
    back = {e.subject_id for e in _events(db, "referral", "refer-back")}
    completed = [e.subject_id for e in _events(db, "referral", "complete")
                 if e.subject_id in referrals and scope.during(e.at)
                 and scope.has(referrals[e.subject_id].institution_id)]
    out["loop_closure_rate"] = _rate(sum(s in back for s in completed), len(completed))
    consults = {c.id: c for c in db.scalars(select(Consult))}
    out["consult_turnaround_h"] = _mean([
        _hours(consults[e.subject_id].created_at, e.at)
        for e in _events(db, "consult", "opinion")
        if e.subject_id in consults and scope.has(e.actor_institution) and scope.during(e.at)])
    studies = {s.id: s for s in db.scalars(select(ImagingStudy))}
    reports = [r for r in db.scalars(select(ImagingReport))
               if r.study_id in studies and scope.has(r.author_institution)
               and scope.during(r.issued)]
    out["imaging_turnaround_h"] = _mean([_hours(studies[r.study_id].registered_at, r.issued)
                                         for r in reports])
    out["imaging_reports"] = len(reports)
    out["imaging_critical"] = sum(r.critical for r in reports)
    attended = [a for a in db.scalars(select(Attendance))
                if scope.has(a.institution_id) and scope.during(a.at)]
    out["teaching_attendances"] = len(attended)
    out["teaching_participants"] = len({a.user_id for a in attended})
    out["teaching_credits"] = round(sum(
        e.credits or 0.0 for e in db.scalars(select(Enrolment))
        if scope.has(e.institution_id) and scope.during(e.credited_at)), 4)
    out["model_suggestions"] = model_suggestions(db, scope, referrals, consults)
    out["sla_breaches"] = sum(1 for a in alerts(db, now=now) if scope.has(a["institution_id"]))
    return out


def model_suggestions(db: Session, scope: Scope, referrals: dict[str, Referral],
                      consults: dict[str, Consult]) -> dict[str, dict[str, Any]]:
    """{model_version: {choices, suggested, acceptance_rate}} (see the module doc)."""
    shown: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
    for log in db.scalars(select(RecommendationLog)):
        shown.setdefault(("referral", log.referral_id), []).append(
            (as_utc(log.created_at), log.model_version or "unknown"))
    for clog in db.scalars(select(ConsultRecommendationLog)):
        shown.setdefault(("consult", clog.consult_id), []).append(
            (as_utc(clog.created_at), clog.model_version or "unknown"))
    origin: dict[tuple[str, str], str] = {("referral", k): v.institution_id
                                          for k, v in referrals.items()}
    origin.update({("consult", k): v.institution_id for k, v in consults.items()})
    out: dict[str, dict[str, Any]] = {}
    for d in db.scalars(select(RecommendationDecision).where(
            RecommendationDecision.decision == "chosen").order_by(RecommendationDecision.id)):
        key = (d.subject_type, d.subject_id)
        if not scope.has(origin.get(key)) or not scope.during(d.at):
            continue
        logs = [v for t, v in sorted(shown.get(key, [])) if t <= as_utc(d.at)]
        if not logs:
            continue
        row = out.setdefault(logs[-1], {"choices": 0, "suggested": 0})
        row["choices"] += 1
        row["suggested"] += int(bool(d.suggested))
    for row in out.values():
        row["acceptance_rate"] = _rate(row["suggested"], row["choices"])
    return dict(sorted(out.items()))


def alerts(db: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Open waits longer than their service level, longest first."""
    now = as_utc(now) or utcnow()
    out: list[dict[str, Any]] = []

    def add(kind: str, subject_type: str, subject_id: str, inst: str | None, urgency: str,
            since: datetime, sla: dict[str, float]) -> None:
        hours = _hours(since, now)
        limit = sla.get(urgency, sla["routine"])
        if hours > limit:
            out.append({"kind": kind, "subject_type": subject_type, "subject_id": subject_id,
                        "institution_id": inst, "urgency": urgency,
                        "since": as_utc(since), "hours_open": round(hours, 2),
                        "sla_hours": limit})

    last_choice: dict[str, datetime] = {}
    for e in _events(db, "referral", "choose"):
        last_choice[e.subject_id] = e.at
    for r in db.scalars(select(Referral).where(
            Referral.business_status == "awaiting-acceptance")):
        add("referral.acceptance", "referral", r.id, r.target_institution_id, r.urgency,
            last_choice.get(r.id, r.created_at), REFERRAL_ACCEPT_SLA_H)
    for c in db.scalars(select(Consult).where(Consult.business_status.in_(
            ("awaiting-acceptance", "accepted", "scheduled", "in-session")))):
        add("consult.opinion", "consult", c.id, c.expert_institution_id, c.urgency,
            c.created_at, CONSULT_OPINION_SLA_H)
    for s in db.scalars(select(ImagingStudy).where(
            ImagingStudy.status.in_(("registered", "assigned")))):
        add("imaging.report", "imaging", s.id, s.reader_institution or s.institution_id,
            s.urgency, s.registered_at, IMAGING_REPORT_SLA_H)
    out.sort(key=lambda a: -a["hours_open"])
    return out


def institutions_seen(db: Session) -> list[str]:
    """Every institution that appears in the events (for /metrics)."""
    codes: set[str] = set()
    for col in (Referral.institution_id, Referral.target_institution_id,
                ImagingStudy.institution_id, ImagingStudy.reader_institution,
                Attendance.institution_id, Consult.institution_id,
                Consult.expert_institution_id):
        codes.update(v for v in db.scalars(select(col).distinct()) if v)
    return sorted(codes)


def csv_rows(result: dict[str, Any]) -> list[list[str]]:
    """``figure, model_version, value`` lines of one figures() result."""
    rows = [["figure", "model_version", "value"]]
    for name in FIGURES:
        value = result.get(name)
        rows.append([name, "", "" if value is None else str(value)])
    for version, row in result.get("model_suggestions", {}).items():
        for k in ("choices", "suggested", "acceptance_rate"):
            v = row.get(k)
            rows.append([f"model_suggestions.{k}", version, "" if v is None else str(v)])
    return rows

