"""Baselines: first-come-first-served (today's practice) and an urgency-ordered greedy."""

from __future__ import annotations

import time

import numpy as np

from .candidates import Candidates, Usage, appointment_of, generate_candidates
from .problem import CompiledProblem, Plan, Problem


def _as_compiled(problem: Problem | CompiledProblem) -> CompiledProblem:
    return problem if isinstance(problem, CompiledProblem) else CompiledProblem(problem)


def _finish(cp: CompiledProblem, chosen: dict[int, int], cands: Candidates, mode: str,
            t0: float) -> Plan:
    apps = [appointment_of(cp, cp.ra.ids[i], int(cands.s[c]), int(cands.d[c]))
            for i, c in sorted(chosen.items())]
    unassigned = {}
    for i, rid in enumerate(cp.ra.ids):
        if i not in chosen:
            unassigned[rid] = ("no eligible slot before the deadline"
                               if cands.req_hi[i] == cands.req_lo[i]
                               else "eligible slots all taken before the deadline")
    return Plan(appointments=apps, unassigned=unassigned, mode=mode,
                seconds=time.perf_counter() - t0)


def fcfs(problem: Problem | CompiledProblem, cands: Candidates | None = None) -> Plan:
    """Today's practice: requests in arrival order, each gets the earliest eligible free
    slot (ties: the practitioner listed first), ignoring urgency and every soft goal.
    It does respect the hard rules (deadline included: no slot in time, no booking)."""
    t0 = time.perf_counter()
    cp = _as_compiled(problem)
    cands = cands if cands is not None else generate_candidates(cp)
    use = Usage(cp)
    chosen: dict[int, int] = {}
    order = np.lexsort((np.arange(len(cp.ra.ids)), cp.ra.created_h))
    for i in order.tolist():
        sl = cands.of(i)
        if sl.stop == sl.start:
            continue
        ok = use.feasible(cands.cover[sl], cands.p[sl], cands.day[sl], cands.d[sl])
        if not ok.any():
            continue
        idx = np.flatnonzero(ok) + sl.start
        best = idx[np.lexsort((cands.p[idx], cp.s_start_h[cands.s[idx]]))[0]]
        use.book(cands.cover[best], int(cands.p[best]), int(cands.day[best]),
                 int(cands.d[best]))
        chosen[i] = int(best)
    return _finish(cp, chosen, cands, "fcfs", t0)


def urgency_order(cp: CompiledProblem) -> np.ndarray:
    """Emergency first, then urgent, then routine; earlier deadline, then earlier arrival."""
    ra = cp.ra
    return np.lexsort((ra.created_h, ra.deadline_h, -ra.urg))


def greedy_fill(cp: CompiledProblem, cands: Candidates, use: Usage, chosen: dict[int, int],
                order: np.ndarray) -> None:
    """Book each not-yet-booked request in ``order`` on its best feasible candidate by
    marginal objective (value minus the added load penalty), if that is positive."""
    for i in order.tolist():
        if i in chosen:
            continue
        sl = cands.of(i)
        if sl.stop == sl.start:
            continue
        ok = use.feasible(cands.cover[sl], cands.p[sl], cands.day[sl], cands.d[sl])
        if not ok.any():
            continue
        idx = np.flatnonzero(ok) + sl.start
        gain = cands.v[idx] - use.marginal(cands.p[idx], cands.d[idx])
        k = int(np.argmax(gain))
        if gain[k] <= 0:
            continue
        best = int(idx[k])
        use.book(cands.cover[best], int(cands.p[best]), int(cands.day[best]),
                 int(cands.d[best]))
        chosen[i] = best


def greedy(problem: Problem | CompiledProblem, cands: Candidates | None = None) -> Plan:
    """Urgency/deadline-ordered greedy with the best marginal objective per request."""
    t0 = time.perf_counter()
    cp = _as_compiled(problem)
    cands = cands if cands is not None else generate_candidates(cp)
    use = Usage(cp)
    chosen: dict[int, int] = {}
    greedy_fill(cp, cands, use, chosen, urgency_order(cp))
    return _finish(cp, chosen, cands, "greedy", t0)
