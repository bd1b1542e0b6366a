"""Scheduler benchmark (issue 6): every mode on the same instances in one run.

Modes: ``fcfs`` (today's practice), ``greedy`` (urgency-ordered), ``online`` (the online
suggestion run over the backlog in arrival order), ``ours`` (the batch optimiser) and
``exact`` (CP-SAT to optimality where it finishes, else the proven bound); for information
``fcfs_book_late`` (FCFS allowed to book past deadlines, as on the phone today).  Every plan of
every mode is checked with ``models.scheduling.check``; ``violations`` of an instance is
the sum over all modes (per mode under ``modes``).

``gap`` = (optimum_or_bound - ours) / |optimum_or_bound|, where ``optimum_or_bound`` is the
smallest proven upper bound available (CP-SAT's bound or optimum, the LP bound over all
candidates, the column-generation Lagrangian bound of ``optimise``): a conservative gap.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import numpy as np

from benchmarks.scheduler_instances import generate, new_requests
from models.scheduling import (
    CompiledProblem,
    ScheduleState,
    check,
    evaluate,
    exact,
    fcfs,
    generate_candidates,
    greedy,
    online_plan,
    optimise,
    suggest,
)

FULL_SIZES = [(100, 20, 20.0), (300, 60, 60.0), (1000, 200, 60.0)]
QUICK_SIZES = [(40, 8, 5.0), (80, 16, 5.0)]
KEYS = ("objective", "urgent_mean_wait_h", "deadline_misses", "gini")


def _mode(plan, problem, seconds: float) -> dict:
    m = evaluate(plan, problem)
    v = check(plan, problem)
    out = {k: m[k] for k in KEYS}
    out.update(urgent_mean_wait_booked_h=m["urgent_mean_wait_booked_h"], served=m["served"],
               unassigned=m["unassigned"], violations=len(v),
               seconds=round(seconds, 3), mean_match_quality=m["mean_match_quality"],
               tier_share=m["tier_share"])
    return out


def _timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def _ratios(fc: dict, ours: dict) -> dict:
    def red(a, b):
        return round(1 - b / a, 4) if a else None

    return {"urgent_wait_reduction": red(fc["urgent_mean_wait_h"], ours["urgent_mean_wait_h"]),
            "deadline_miss_reduction": red(fc["deadline_misses"], ours["deadline_misses"]),
            "gini_ratio": round(ours["gini"] / fc["gini"], 4) if fc["gini"] else None}


def run_instance(n_req: int, n_prac: int, *, seed: int, exact_s: float) -> dict:
    problem = generate(n_req, n_prac, seed=seed)
    plan, t_ours = _timed(lambda: optimise(problem))
    cp = CompiledProblem(problem)
    full = generate_candidates(cp)
    modes = {"ours": _mode(plan, problem, t_ours)}
    for name, f in (("fcfs", lambda: fcfs(cp, full)), ("greedy", lambda: greedy(cp, full)),
                    ("online", lambda: online_plan(problem))):
        p, t = _timed(f)
        modes[name] = _mode(p, problem, t)
    modes["fcfs_book_late"] = fcfs_book_late(problem)
    ex, t_ex = _timed(lambda: exact(cp, cands=full, hint=plan, time_limit_s=exact_s))
    modes["exact"] = _mode(ex, problem, t_ex)
    modes["exact"]["status"] = ex.status
    bounds = [b for b in (ex.bound, plan.bound) if b is not None]
    bound = min(bounds)
    obj = modes["ours"]["objective"]
    fc, ours = modes["fcfs"], modes["ours"]
    return {
        "requests": n_req, "practitioners": n_prac, "slots": len(problem.slots),
        "candidates": len(full), "seed": seed,
        "objective": obj, "optimum_or_bound": round(bound, 4),
        "exact_status": ex.status,
        "exact_objective": modes["exact"]["objective"] if ex.status in ("optimal", "feasible")
        else None,
        "gap": round((bound - obj) / abs(bound), 5) if bound else 0.0,
        "seconds": round(t_ours, 3),
        "violations": sum(m["violations"] for k, m in modes.items() if k != "fcfs_book_late"),
        "fcfs": {k: fc[k] for k in KEYS},
        "ours": {k: ours[k] for k in KEYS if k != "objective"},
        "vs_fcfs": _ratios(fc, ours),
        "vs_fcfs_book_late": _ratios(modes["fcfs_book_late"], ours),
        "batch_info": plan.info, "batch_status": plan.status,
        "modes": modes,
    }


def fcfs_book_late(problem) -> dict:
    """For information only: FCFS as a phone scheduler does it, booking past the deadline
    when nothing earlier is free.  Its late bookings count as deadline misses; it breaks
    the deadline rule on purpose, so it is left out of ``violations``."""
    far = [dataclasses.replace(r, deadline=problem.now + timedelta(days=3650))
           for r in problem.requests]
    plan = fcfs(dataclasses.replace(problem, requests=far))
    m = evaluate(plan, problem)
    late = sum(v.kind == "deadline" for v in check(plan, problem))
    return {"objective": m["objective"], "urgent_mean_wait_h": m["urgent_mean_wait_h"],
            "deadline_misses": m["deadline_misses"] + late, "late_bookings": late,
            "gini": m["gini"]}


def online_latency(problem, plan, n: int = 1000, k: int = 3) -> dict:
    state = ScheduleState(problem, plan)
    reqs = new_requests(problem, n, seed=7)
    suggest(state, reqs[0], k=k)  # warm-up
    lat, found = [], []
    for r in reqs:
        t = time.perf_counter()
        s = suggest(state, r, k=k)
        lat.append((time.perf_counter() - t) * 1000)
        found.append(bool(s))
    lat_a, hit = np.asarray(lat), np.asarray(found)
    return {"online_p50_ms": round(float(np.percentile(lat_a, 50)), 3),
            "online_p99_ms": round(float(np.percentile(lat_a, 99)), 3),
            "online_p99_ms_with_suggestions": round(float(np.percentile(lat_a[hit], 99)), 3)
            if hit.any() else None,
            "online_calls": n, "online_no_suggestion": int((~hit).sum())}


def run(settings=None, *, quick: bool = False) -> dict:
    """All modes on all instances in one run; ``settings`` is not used."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    instances = [run_instance(r, p, seed=i, exact_s=s) for i, (r, p, s) in enumerate(sizes)]
    big_r, big_p = (300, 60) if quick else (5000, 500)
    problem = generate(big_r, big_p, seed=99)
    plan, t_big = _timed(lambda: optimise(problem))
    cp = CompiledProblem(problem)
    fc = _mode(fcfs(cp), problem, 0.0)
    ours = _mode(plan, problem, t_big)
    out = {
        "instances": instances,
        **online_latency(problem, plan, n=200 if quick else 1000),
        f"replan_{big_r}x{big_p}_s": round(t_big, 3),
        "replan": {"requests": big_r, "practitioners": big_p, "slots": len(problem.slots),
                   "seconds": round(t_big, 3), "violations": ours["violations"] + fc["violations"],
                   "objective": ours["objective"], "bound": plan.bound,
                   "status": plan.status, "info": plan.info,
                   "fcfs": {k: fc[k] for k in KEYS}, "ours": {k: ours[k] for k in KEYS},
                   "vs_fcfs": _ratios(fc, ours)},
        "quick": quick,
    }
    out.setdefault("replan_5000x500_s", None if quick else round(t_big, 3))
    out["max_gap"] = max(i["gap"] for i in instances)
    out["total_violations"] = sum(i["violations"] for i in instances) + out["replan"][
        "violations"]
    return out


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(run(None, quick="--quick" in sys.argv)))
