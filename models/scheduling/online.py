"""Online mode: the best ``k`` slots for one new request, with reasons, in one call.

:class:`ScheduleState` compiles the problem once (slots indexed by specialty) and keeps the
usage of the current plan; ``suggest`` scores every feasible start slot of the eligible
practitioners in one vectorised pass (value of the booking minus the extra load penalty at
the current load, i.e. the batch objective's marginal gain) and returns the best ``k``,
one per practitioner by default so that the scheduler gets real alternatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .candidates import EPS, Usage, appointment_of
from .problem import (
    MAX_DURATION,
    SLOT_H,
    TIERS,
    Appointment,
    CompiledProblem,
    Plan,
    Problem,
    Request,
    haversine_km,
    score_pairs,
)


@dataclass(frozen=True)
class Suggestion:
    slot_ids: tuple[str, ...]
    practitioner_id: str
    institution: str
    start: datetime
    score: float
    match_quality: float
    reasons: tuple[str, ...]


class SlotTaken(Exception):
    """The slot (or the practitioner's day) is no longer available: a conflict."""


class NotEligible(ValueError):
    """The slot can never fit the request (specialty, language, modality, time window or
    not enough consecutive slots)."""


class ScheduleState:
    """The plan being built online: existing bookings of ``problem`` plus ``plan``."""

    def __init__(self, problem: Problem, plan: Plan | None = None):
        self.cp = CompiledProblem(problem)
        self.use = Usage(self.cp)
        self.appointments: list[Appointment] = []
        cp = self.cp
        self.spec_slots = [np.flatnonzero(cp.p_spec[cp.s_prac, j])
                           for j in range(cp.p_spec.shape[1])]
        if plan is not None:
            reqs = {r.id: r for r in problem.requests}
            for a in plan.appointments:
                self._apply(a, reqs[a.request_id].duration_slots)

    def _apply(self, a: Appointment, d: int) -> None:
        cp = self.cp
        s = cp.slot_index[a.slot_ids[0]]
        self.use.book(cp.s_cover[s, :d], int(cp.s_prac[s]), int(cp.s_day[s]), d)
        self.appointments.append(a)

    def book(self, request: Request, slot_id: str) -> Appointment:
        """Book ``request`` from ``slot_id`` on (a suggestion accepted, or another slot the
        scheduler picked).  Raises :class:`NotEligible` if the slot can never fit the
        request and :class:`SlotTaken` if it no longer fits (capacity, daily maximum).
        Not thread-safe: callers serialise bookings (the API holds the lock/transaction)."""
        cp = self.cp
        if slot_id not in cp.slot_index:
            raise NotEligible(f"unknown slot {slot_id}")
        s = cp.slot_index[slot_id]
        d = int(request.duration_slots)
        ra = cp.request_arrays([request])
        pi = int(cp.s_prac[s])
        st = cp.s_start_h[s]
        if (ra.spec[0] < 0 or ra.lang[0] < 0 or not cp.p_spec[pi, ra.spec[0]]
                or not cp.p_lang[pi, ra.lang[0]] or not (cp.p_mod[pi] & ra.mod[0])
                or st < ra.release_h[0] - EPS or st + d * SLOT_H > ra.deadline_h[0] + EPS
                or d > cp.s_cover.shape[1] or (cp.s_cover[s, :d] < 0).any()):
            raise NotEligible(f"{slot_id} does not fit request {request.id}")
        cov = cp.s_cover[s:s + 1].copy()
        cov[:, d:] = -1
        if not self.use.feasible(cov, cp.s_prac[s:s + 1], cp.s_day[s:s + 1],
                                 np.array([d]))[0]:
            raise SlotTaken(slot_id)
        a = appointment_of(cp, request.id, s, d)
        self._apply(a, d)
        return a

    def plan(self) -> Plan:
        return Plan(appointments=list(self.appointments), mode="online")


def suggest(state: ScheduleState, request: Request, k: int = 3, *,
            distinct_practitioners: bool = True) -> list[Suggestion]:
    """The best ``k`` feasible slots for ``request`` given the state, best first."""
    cp, use = state.cp, state.use
    ra = cp.request_arrays([request])
    if ra.spec[0] < 0 or ra.lang[0] < 0 or ra.dur[0] > MAX_DURATION:
        return []
    s = state.spec_slots[ra.spec[0]]
    p = cp.s_prac[s]
    ok = cp.p_lang[p, ra.lang[0]] & ((cp.p_mod[p] & ra.mod[0]) != 0)
    st = cp.s_start_h[s]
    d = int(ra.dur[0])
    ok &= (st >= ra.release_h[0] - EPS) & (st + d * SLOT_H <= ra.deadline_h[0] + EPS)
    s, p = s[ok], p[ok]
    if not len(s):
        return []
    cov = cp.s_cover[s].copy()
    cov[:, d:] = -1
    full = (cov[:, :d] >= 0).all(axis=1)
    dd = np.full(len(s), d)
    feas = full & use.feasible(cov, p, cp.s_day[s], dd)
    s, p, cov = s[feas], p[feas], cov[feas]
    if not len(s):
        return []
    r = np.zeros(len(s), dtype=np.int64)
    v = score_pairs(cp, ra, r, s)
    gain = v - use.marginal(p, dd[: len(s)])
    order = np.lexsort((cp.s_start_h[s], -gain))
    if distinct_practitioners:
        _, first = np.unique(p[order], return_index=True)
        order = order[np.sort(first)]
    out = []
    for j in order[:k].tolist():
        out.append(_suggestion(state, request, ra, int(s[j]), d, float(gain[j])))
    return out


def _suggestion(state: ScheduleState, request: Request, ra, s: int, d: int, score: float
                ) -> Suggestion:
    cp, use = state.cp, state.use
    pi = int(cp.s_prac[s])
    pid = cp.prac_ids[pi]
    q = float(ra.qmat[0, pi])
    start = cp.slots[s].start
    deadline = state.cp.problem.deadline_of(request)
    reasons = [f"match quality {q:.2f}",
               f"starts {start:%a %d %b %H:%M}, "
               f"{(deadline - start).total_seconds() / 3600 - d * 0.5:.1f} h before the "
               f"{request.urgency} deadline"]
    if request.follow_up_of == pid:
        reasons.append("continuity: same specialist as the earlier visit")
    tier = TIERS[int(cp.p_tier[pi])]
    util = (cp.p_pre[pi] + use.p_new[pi]) / max(1, cp.p_cap[pi])
    reasons.append(f"{tier} institution {cp.inst_ids[int(cp.p_inst[pi])]}, "
                   f"practitioner load {util:.0%}")
    if request.modality == "in_person" and ra.has_loc[0] and not np.isnan(cp.p_lat[pi]):
        km = float(haversine_km(ra.lat[0], ra.lon[0], cp.p_lat[pi], cp.p_lon[pi]))
        reasons.append(f"travel {km:.0f} km")
    else:
        reasons.append("remote: no travel")
    if (int(ra.pref_mask[0]) >> int(cp.s_hod[s])) & 1:
        reasons.append("at the patient's preferred time")
    if d > 1:
        reasons.append(f"{d} consecutive slots ({d * SLOT_H * 60:.0f} min estimated)")
    if request.no_show_risk >= 0.2:
        reasons.append(f"no-show risk {request.no_show_risk:.0%}: an early slot lowers it")
    return Suggestion(slot_ids=tuple(cp.slot_ids[int(c)] for c in cp.s_cover[s, :d]),
                      practitioner_id=pid, institution=cp.inst_ids[int(cp.p_inst[pi])],
                      start=start, score=round(score, 4), match_quality=q,
                      reasons=tuple(reasons))


def explain_plan(state: ScheduleState, requests: list[Request]) -> dict[str, Suggestion]:
    """Each booked request of the state's plan as a :class:`Suggestion` with reasons; its
    score is the booking's marginal gain given every other booking of the plan."""
    cp, use = state.cp, state.use
    by_id = {r.id: r for r in requests}
    out: dict[str, Suggestion] = {}
    for a in state.appointments:
        r = by_id.get(a.request_id)
        if r is None:
            continue
        s = cp.slot_index[a.slot_ids[0]]
        d = len(a.slot_ids)
        p, day = int(cp.s_prac[s]), int(cp.s_day[s])
        ra = cp.request_arrays([r])
        use.unbook(cp.s_cover[s, :d], p, day, d)
        try:
            gain = float(score_pairs(cp, ra, np.zeros(1, dtype=np.int64), np.array([s]))[0]
                         - use.marginal(np.array([p]), np.array([d]))[0])
            out[r.id] = _suggestion(state, r, ra, s, d, gain)
        finally:
            use.book(cp.s_cover[s, :d], p, day, d)
    return out


def online_plan(problem: Problem, k: int = 1) -> Plan:
    """The online mode run over all open requests in arrival order (each booked on its
    best suggestion), for comparison with the batch modes."""
    import time

    t0 = time.perf_counter()
    state = ScheduleState(problem)
    unassigned = {}
    for r in sorted(problem.requests, key=lambda r: r.created):
        sug = suggest(state, r, k=k)
        if sug:
            state.book(r, sug[0].slot_ids[0])
        else:
            unassigned[r.id] = "no feasible slot before the deadline"
    plan = state.plan()
    plan.unassigned = unassigned
    plan.seconds = time.perf_counter() - t0
    return plan
