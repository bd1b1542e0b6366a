"""Objective and metrics of a plan, recomputed from the objects (scalar code, independent of
the vectorised solver scoring; a test checks that both agree).

Metric definitions (the same for every mode):

- ``objective``: the weighted soft goals of :class:`~.problem.Weights` (maximised).
- ``urgent_mean_wait_h``: mean hours from ``created`` to appointment start over urgent and
  emergency requests; an unbooked one counts as waiting until the end of the horizon
  (a lower bound of its real wait), so that dropping requests never looks good.
- ``urgent_mean_wait_booked_h``: the same over the booked ones only (for information).
- ``deadline_misses``: requests left unbooked whose deadline falls inside the horizon
  (nothing is ever booked late: that would be a ``deadline`` violation).
- ``gini``: Gini coefficient of utilisation (existing + new booked slot units over slot
  capacity) across practitioners with any capacity.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np

from .problem import (
    SLOT_MINUTES,
    TIERS,
    URGENCIES,
    Plan,
    Problem,
    Request,
    haversine_km,
    load_penalty,
    segment_capacities,
)


def gini(x) -> float:
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    if n == 0 or x.sum() <= 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float((2 * (i * x).sum() / (n * x.sum())) - (n + 1) / n)


def assignment_value(problem: Problem, r: Request, pr, start) -> float:
    """Value of booking ``r`` with practitioner ``pr`` at ``start``, without the load
    penalties (scalar reference code)."""
    w = problem.weights
    u = URGENCIES.index(r.urgency)
    v = float(w.serve()[u])
    wait_d = (start - r.created).total_seconds() / 86400.0
    v -= float(w.wait_per_day()[u]) * wait_d
    v -= w.no_show * min(1.0, max(0.0, float(r.no_show_risk))) * wait_d
    v += w.match_quality * float(r.match_quality.get(pr.id, w.default_match_quality))
    if r.follow_up_of is not None and r.follow_up_of == pr.id:
        v += w.continuity
    if r.modality == "in_person" and r.location is not None and pr.location is not None:
        km = float(haversine_km(r.location.lat, r.location.lon, pr.location.lat,
                                pr.location.lon))
        v -= w.travel * min(km, w.travel_cap_km) / 100.0
    hod = start.hour
    if any(a <= hod < b for a, b in r.preferred_hours):
        v += w.preference
    v += float(w.tier_bonus()[TIERS.index(pr.tier)]) * r.duration_slots
    return v


def evaluate(plan: Plan, problem: Problem) -> dict:
    """Objective and metrics of ``plan`` (assumed valid; run ``check`` for that)."""
    w = problem.weights
    reqs = {r.id: r for r in problem.requests}
    pracs = {p.id: p for p in problem.practitioners}
    cap: dict[str, int] = defaultdict(int)
    pre: dict[str, int] = defaultdict(int)
    end = None
    for s in problem.slots:
        cap[s.practitioner] += s.capacity
        pre[s.practitioner] += min(s.booked, s.capacity)
        e = s.start + timedelta(minutes=s.minutes)
        end = e if end is None or e > end else end
    new: dict[str, int] = defaultdict(int)
    value = 0.0
    booked: dict[str, datetime] = {}
    for a in plan.appointments:
        r, pr = reqs[a.request_id], pracs[a.practitioner_id]
        value += assignment_value(problem, r, pr, a.start)
        new[pr.id] += len(a.slot_ids)
        booked[r.id] = a.start
    pids = [p.id for p in problem.practitioners]
    m = np.asarray(w.load_marginal, dtype=float)
    pcap = np.array([cap[p] for p in pids])
    ppre = np.array([pre[p] for p in pids])
    pnew = np.array([new[p] for p in pids])
    pen_p = load_penalty(pnew, segment_capacities(pcap, ppre, len(m)),
                         w.practitioner_load * m).sum() if pids else 0.0
    insts = sorted({p.institution for p in problem.practitioners})
    ix = {x: i for i, x in enumerate(insts)}
    icap, ipre, inew = (np.zeros(len(insts), dtype=np.int64) for _ in range(3))
    for k, p in enumerate(problem.practitioners):
        j = ix[p.institution]
        icap[j] += pcap[k]
        ipre[j] += ppre[k]
        inew[j] += pnew[k]
    pen_i = load_penalty(inew, segment_capacities(icap, ipre, len(m)),
                         w.institution_load * m).sum() if insts else 0.0
    objective = value - float(pen_p) - float(pen_i)

    waits, waits_booked = [], []
    misses = 0
    for r in problem.requests:
        st = booked.get(r.id)
        if r.urgency in ("urgent", "emergency"):
            t = st if st is not None else (end or problem.now)
            waits.append((t - r.created).total_seconds() / 3600.0)
            if st is not None:
                waits_booked.append(waits[-1])
        if st is None and end is not None and problem.deadline_of(r) <= end:
            misses += 1
    has = pcap > 0
    util = (ppre + pnew)[has] / pcap[has]
    tiers = dict.fromkeys(TIERS, 0)
    for a in plan.appointments:
        tiers[pracs[a.practitioner_id].tier] += len(a.slot_ids)
    tot = sum(tiers.values()) or 1
    return {
        "objective": round(objective, 4),
        "served": len(booked),
        "unassigned": len(problem.requests) - len(booked),
        "urgent_mean_wait_h": round(float(np.mean(waits)), 3) if waits else 0.0,
        "urgent_mean_wait_booked_h": round(float(np.mean(waits_booked)), 3)
        if waits_booked else 0.0,
        "deadline_misses": misses,
        "gini": round(gini(util), 4),
        "tier_share": {t: round(n / tot, 3) for t, n in tiers.items()},
        "mean_match_quality": round(float(np.mean([
            reqs[a.request_id].match_quality.get(a.practitioner_id, w.default_match_quality)
            for a in plan.appointments])), 4) if plan.appointments else math.nan,
        "slot_minutes": SLOT_MINUTES,
    }
