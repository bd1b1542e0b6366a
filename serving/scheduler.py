"""The specialist scheduler as a plain class: tests and the API use it without Ray, the
``SpecialistScheduler`` Serve deployment wraps it.

``replan`` re-plans a set of open requests with the batch optimiser (LP decomposition,
``models.scheduling.optimise``) and explains each booking; ``suggest`` gives the best ``k``
slots for one request (the online mode). Before solving, each request's visit length
(slots) and no-show risk come from the registered scheduling-risk model
(``models:/<scheduling_model_name>@champion``, followed as the alias moves) with features
from the ``specialist_scheduling_v1`` service. Without a model (none registered, or
``scheduling_use_risk_model`` off) requests take one slot and no risk term: the scheduler
of before, with ``degraded: true`` when a model was wanted but is unavailable.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from models.scheduling import (
    Location,
    Plan,
    Practitioner,
    Problem,
    Request,
    ScheduleState,
    Slot,
    check,
    evaluate,
    explain_plan,
    optimise,
    suggest,
)
from models.scheduling.risk import predict as risk_predict
from models.scheduling.risk import slots_for
from regioncare.settings import Settings
from serving.schemas import (
    ReplanRequest,
    ReplanResponse,
    RequestEstimate,
    SchedulePractitioner,
    ScheduleRequestItem,
    ScheduleSlot,
    ScheduleSuggestion,
    SuggestRequest,
    SuggestResponse,
)

log = logging.getLogger("regioncare.serving.scheduler")
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # clinic days and hours are local
NOMINAL_LEAD_DAYS = 1.0  # risk is estimated for a booking soon; the objective adds the wait


class SchedulerPredictor:
    def __init__(self, settings: Settings, *, reload_interval_s: float = 5.0) -> None:
        self.settings = settings
        self.reload_interval_s = reload_interval_s
        self.version: str | None = None
        self.bundle: Any = None
        self.model_error: str | None = None
        self.store: Any = None
        self.store_error: str | None = None
        self._regions: dict[str, tuple[float, float]] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        if settings.scheduling_use_risk_model:
            self._load_model()

    # -- the model ------------------------------------------------------------------------
    def _registry_exists(self) -> bool:
        # The embedded default keeps MLflow in one SQLite file: no file, no model, and no
        # need to import MLflow (seconds) to learn that.
        uri = self.settings.mlflow_tracking_uri
        return not uri.startswith("sqlite:///") or (self.settings.mlflow_dir /
                                                     "mlflow.db").exists()

    def _load_model(self) -> None:
        name = self.settings.scheduling_model_name
        self._checked_at = time.monotonic()
        if not self._registry_exists():
            self.model_error = f"no model {name} registered"
            return
        try:
            from training import registry

            current = registry.champion_version(self.settings, name)
            if current is None:
                self.model_error = f"no model {name}@champion"
                return
            if current == self.version:
                return
            loaded = registry.load_alias(self.settings, name, bundle=registry.RiskBundle)
        except Exception as exc:  # the registry is down: keep what we have
            self.model_error = f"registry unavailable: {str(exc).splitlines()[0][:200]}"
            log.warning(self.model_error)
            return
        self.bundle, self.version, self.model_error = loaded.bundle, loaded.version, None
        log.info("scheduling-risk model %s version %s loaded", name, self.version)

    def _maybe_reload(self) -> None:
        if (self.settings.scheduling_use_risk_model
                and time.monotonic() - self._checked_at >= self.reload_interval_s):
            with self._lock:
                if time.monotonic() - self._checked_at >= self.reload_interval_s:
                    self._load_model()

    def _open_store(self) -> Any:
        if self.store is not None or self.store_error is not None:
            return self.store
        if not (self.settings.feast_dir / "registry.db").exists() \
                and self.settings.online_store == "sqlite":
            self.store_error = "no feature store"
            return None
        try:
            from features.store import open_store

            self.store = open_store(self.settings)
        except Exception as exc:
            self.store_error = f"online store unavailable: {str(exc).splitlines()[0][:200]}"
        return self.store

    def _region_centroids(self) -> dict[str, tuple[float, float]]:
        if self._regions is None:
            try:
                from training.scheduling_data import region_centroids

                self._regions = region_centroids(self.settings)
            except Exception:  # no offline tables here: distances stay unknown
                self._regions = {}
        return self._regions

    # -- estimates ------------------------------------------------------------------------
    def estimates(self, requests: list[ScheduleRequestItem],
                  practitioners: list[SchedulePractitioner], now: datetime
                  ) -> tuple[list[RequestEstimate], str | None]:
        """Slots and no-show risk per request, and why they are not the model's (or None)."""
        wanted = [r for r in requests if r.duration_slots is None]
        if not self.settings.scheduling_use_risk_model or self.bundle is None or not wanted:
            why = (None if not self.settings.scheduling_use_risk_model or not wanted
                   else self.model_error or "no scheduling-risk model")
            return [RequestEstimate(request_id=r.id, duration_slots=r.duration_slots or 1,
                                    no_show_risk=None,
                                    source="given" if r.duration_slots else "default")
                    for r in requests], why
        rows, why = self._raw_rows(requests, practitioners, now)
        p, minutes = risk_predict(self.bundle.model, self.bundle.spec, rows)
        slots = slots_for(minutes)
        out = [RequestEstimate(request_id=r.id,
                               duration_slots=r.duration_slots or int(slots[i]),
                               no_show_risk=round(float(p[i]), 4),
                               source="given" if r.duration_slots else "model")
               for i, r in enumerate(requests)]
        return out, why

    def _raw_rows(self, requests: list[ScheduleRequestItem],
                  practitioners: list[SchedulePractitioner], now: datetime
                  ) -> tuple[dict[str, list[Any]], str | None]:
        import pandas as pd

        from training.scheduling_data import PATIENT_VIEW, PRACTITIONER_VIEW, SERVICE, raw_rows

        by_id = {p.id: p for p in practitioners}
        # Features of the practitioner the request is most likely to see: the best match.
        target = []
        for r in requests:
            best = max(r.match_quality.items(), key=lambda kv: kv[1])[0] \
                if r.match_quality else None
            if best not in by_id:
                best = next((p.id for p in practitioners if r.specialty in p.specialties),
                            None)
            target.append(best)
        n = len(requests)
        start = pd.Series([pd.Timestamp(now) + pd.Timedelta(days=NOMINAL_LEAD_DAYS)] * n)
        frame = pd.DataFrame({"start": start, "event_timestamp": [pd.Timestamp(now)] * n,
                              "urgency": [r.urgency for r in requests],
                              "diagnosis_code": [r.diagnosis_code for r in requests]})
        patient = pd.DataFrame(index=range(n))
        practitioner = pd.DataFrame({
            "specialty": [r.specialty for r in requests],
            "lat": [by_id[t].lat if t in by_id else None for t in target],
            "lon": [by_id[t].lon if t in by_id else None for t in target],
            "tier": [{"community": 1, "secondary": 2, "tertiary": 3}[by_id[t].tier]
                     if t in by_id else None for t in target]})
        why = None
        store = self._open_store()
        if store is None:
            why = f"features missing ({self.store_error}): defaults used"
        else:
            try:
                from features.store import online_rows

                pids = [r.patient_id or "" for r in requests]
                patient = pd.DataFrame(online_rows(store, SERVICE, PATIENT_VIEW, "patient_id",
                                                   pids))
                prac = pd.DataFrame(online_rows(store, SERVICE, PRACTITIONER_VIEW,
                                                "practitioner_id", [t or "" for t in target]))
                for c in ("title_rank", "mean_wait_days", "tier", "lat", "lon"):
                    if c in prac:
                        practitioner[c] = prac[c].where(prac[c].notna(), practitioner.get(c))
            except Exception as exc:
                why = f"online features unavailable: {str(exc).splitlines()[0][:200]}"
        return raw_rows(frame, patient, practitioner, self._region_centroids()), why

    # -- solving --------------------------------------------------------------------------
    def _problem(self, now: datetime, requests: list[ScheduleRequestItem],
                 practitioners: list[SchedulePractitioner], slots: list[ScheduleSlot],
                 estimates: list[RequestEstimate]) -> tuple[Problem, list[Request]]:
        def local(t: datetime) -> datetime:
            return t.astimezone(LOCAL_TZ)

        est = {e.request_id: e for e in estimates}
        reqs = [Request(
            id=r.id, specialty=r.specialty, modality=r.modality, urgency=r.urgency,
            created=local(r.created), deadline=local(r.deadline) if r.deadline else None,
            language=r.language, duration_slots=est[r.id].duration_slots,
            follow_up_of=r.follow_up_of, match_quality=dict(r.match_quality),
            patient_id=r.patient_id, no_show_risk=est[r.id].no_show_risk or 0.0)
            for r in requests]
        pracs = [Practitioner(
            id=p.id, institution=p.institution_id, tier=p.tier,
            specialties=frozenset(p.specialties), languages=frozenset(p.languages),
            location=Location(p.lat, p.lon) if p.lat is not None and p.lon is not None
            else None, daily_max_slots=p.daily_max_slots) for p in practitioners]
        sl = [Slot(id=s.id, practitioner=s.practitioner_id, start=local(s.start),
                   capacity=s.capacity, booked=min(s.booked, s.capacity), minutes=s.minutes)
              for s in slots]
        return Problem(requests=reqs, practitioners=pracs, slots=sl, now=local(now)), reqs

    @staticmethod
    def _item(s: Any) -> ScheduleSuggestion:
        return ScheduleSuggestion(request_id="", practitioner_id=s.practitioner_id,
                                  institution_id=s.institution, start=s.start,
                                  minutes=30 * len(s.slot_ids), slot_ids=list(s.slot_ids),
                                  score=s.score, reasons=list(s.reasons))

    def replan(self, body: ReplanRequest) -> ReplanResponse:
        started = time.perf_counter()
        self._maybe_reload()
        estimates, why = self.estimates(body.requests, body.practitioners, body.now)
        if not body.requests:
            return ReplanResponse(model_version=self.version, degraded=why is not None,
                                  degraded_reason=why, suggestions=[], estimates=estimates)
        problem, reqs = self._problem(body.now, body.requests, body.practitioners,
                                      body.slots, estimates)
        plan = optimise(problem, time_limit_s=body.time_limit_s, polish=False)
        excluded = {r.id: {(e.practitioner_id, e.start.timestamp()) for e in r.exclude}
                    for r in body.requests if r.exclude}
        plan = self._respect_exclusions(problem, plan, reqs, excluded)
        violations = check(plan, problem)
        if violations:  # never expected: the validator is independent of the solvers
            log.error("scheduler plan broke %d hard constraints: %s", len(violations),
                      violations[:3])
        state = ScheduleState(problem, plan)
        explained = explain_plan(state, reqs)
        suggestions = []
        for r in reqs:
            if r.id in explained:
                item = self._item(explained[r.id])
                item.request_id = r.id
                suggestions.append(item)
        return ReplanResponse(
            model_version=self.version, degraded=why is not None, degraded_reason=why,
            suggestions=suggestions, unassigned=dict(plan.unassigned), estimates=estimates,
            objective=evaluate(plan, problem)["objective"],
            bound=None if plan.bound is None or not np.isfinite(plan.bound)
            else round(float(plan.bound), 4),
            violations=len(violations), seconds=round(time.perf_counter() - started, 4))

    @staticmethod
    def _respect_exclusions(problem: Problem, plan: Plan, reqs: list[Request],
                            excluded: dict[str, set[tuple[str, float]]]) -> Plan:
        """Move bookings the scheduler rejected to the best slot they did not reject."""
        if not excluded:
            return plan
        hit = {a.request_id for a in plan.appointments
               if (a.practitioner_id, a.start.timestamp()) in excluded.get(a.request_id, ())}
        if not hit:
            return plan
        kept = Plan(appointments=[a for a in plan.appointments if a.request_id not in hit],
                    unassigned=dict(plan.unassigned), mode=plan.mode, seconds=plan.seconds,
                    bound=plan.bound, status=plan.status, info=plan.info)
        state = ScheduleState(problem, kept)
        by_id = {r.id: r for r in reqs}
        for rid in sorted(hit):
            options = suggest(state, by_id[rid], k=20, distinct_practitioners=False)
            pick = next((s for s in options if (s.practitioner_id, s.start.timestamp())
                         not in excluded[rid]), None)
            if pick is None:
                kept.unassigned[rid] = "every free slot in time was rejected for this request"
                continue
            kept.appointments.append(state.book(by_id[rid], pick.slot_ids[0]))
        return kept

    def suggest(self, body: SuggestRequest) -> SuggestResponse:
        self._maybe_reload()
        estimates, why = self.estimates([body.request], body.practitioners, body.now)
        problem, reqs = self._problem(body.now, [body.request], body.practitioners,
                                      body.slots, estimates)
        problem = Problem(requests=[], practitioners=problem.practitioners,
                          slots=problem.slots, now=problem.now)
        state = ScheduleState(problem)
        excluded = {(e.practitioner_id, e.start.timestamp()) for e in body.request.exclude}
        options = [s for s in suggest(state, reqs[0], k=10 * body.k + len(excluded),
                                      distinct_practitioners=False)
                   if (s.practitioner_id, s.start.timestamp()) not in excluded]
        # Real alternatives first (each practitioner's best), then more slots, best first.
        firsts: dict[str, Any] = {}
        for s in options:
            firsts.setdefault(s.practitioner_id, s)
        picked = list(firsts.values())[:body.k]
        picked += [s for s in options if s not in picked][:body.k - len(picked)]
        items = []
        for s in picked:
            item = self._item(s)
            item.request_id = body.request.id
            items.append(item)
        return SuggestResponse(model_version=self.version, degraded=why is not None,
                               degraded_reason=why, estimate=estimates[0], items=items)

    def health(self) -> dict[str, Any]:
        return {"model_version": self.version, "model_error": self.model_error,
                "use_risk_model": self.settings.scheduling_use_risk_model,
                "store_error": self.store_error}

