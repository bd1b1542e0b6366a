"""Scheduling core (issue 6): validator, every mode's hard constraints, optimality against
CP-SAT, the online mode and the urgency ordering."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from benchmarks.scheduler_instances import generate, new_requests
from models.scheduling import (
    Appointment,
    CompiledProblem,
    DeadlinePolicy,
    Location,
    NotEligible,
    Plan,
    Practitioner,
    Problem,
    Request,
    ScheduleState,
    Slot,
    SlotTaken,
    Weights,
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

NOW = datetime(2026, 11, 30, 8, 0)  # Monday


def _slots(pid: str, day: int, hour: float, n: int, *, capacity=1, booked=0) -> list[Slot]:
    base = NOW + timedelta(days=day, hours=hour - 8)
    return [Slot(id=f"{pid}-d{day}-{k}", practitioner=pid,
                 start=base + timedelta(minutes=30 * k), capacity=capacity, booked=booked)
            for k in range(n)]


def _prac(pid, *, spec=("cardiology",), langs=("zh",), mods=("in_person", "remote"),
          daily_max=8, tier="secondary", inst="org-a") -> Practitioner:
    return Practitioner(id=pid, institution=inst, tier=tier, specialties=frozenset(spec),
                        languages=frozenset(langs), location=Location(30.0, 120.0),
                        daily_max_slots=daily_max, modalities=frozenset(mods))


def _req(rid, *, urgency="routine", created_h=-2.0, dur=1, spec="cardiology", lang="zh",
         modality="remote", quality=None, follow=None) -> Request:
    return Request(id=rid, specialty=spec, modality=modality, urgency=urgency,
                   created=NOW + timedelta(hours=created_h), language=lang,
                   location=Location(30.1, 120.1), duration_slots=dur,
                   match_quality=quality or {}, follow_up_of=follow)


def _app(problem: Problem, rid: str, slot_ids: list[str]) -> Appointment:
    slots = {s.id: s for s in problem.slots}
    return Appointment(request_id=rid, practitioner_id=slots[slot_ids[0]].practitioner,
                       slot_ids=tuple(slot_ids), start=slots[slot_ids[0]].start)


# ----------------------------------------------------------------------------- validator


@pytest.fixture
def hand() -> Problem:
    pracs = [_prac("p1", daily_max=3), _prac("p2", spec=("neurology",), langs=("zh", "en"),
                                             mods=("remote",))]
    slots = (_slots("p1", 0, 9, 4) + _slots("p1", 1, 9, 2, capacity=2, booked=1)
             + _slots("p2", 0, 9, 4) + _slots("p2", 3, 9, 2))
    reqs = [_req("r1"), _req("r2", dur=2), _req("r3", urgency="emergency", created_h=-20),
            _req("r4", spec="neurology", lang="en"), _req("r5", modality="in_person"),
            _req("r6", created_h=5.0)]
    return Problem(requests=reqs, practitioners=pracs, slots=slots, now=NOW)


def test_valid_plan_has_no_violation(hand):
    plan = Plan([_app(hand, "r1", ["p1-d0-0"]), _app(hand, "r2", ["p1-d0-1", "p1-d0-2"]),
                 _app(hand, "r4", ["p2-d0-0"]), _app(hand, "r5", ["p1-d1-0"])])
    assert check(plan, hand) == []


@pytest.mark.parametrize("apps, kind", [
    ([("r1", ["p1-d0-0"]), ("r1", ["p1-d0-1"])], "double_booking"),
    ([("r1", ["p1-d0-0"]), ("r5", ["p1-d0-0"])], "capacity"),
    ([("r1", ["p1-d1-0"]), ("r5", ["p1-d1-0"])], "capacity"),  # capacity 2, 1 already booked
    ([("r1", ["p2-d0-0"])], "eligibility"),  # specialty
    ([("r4", ["p1-d0-0"])], "eligibility"),  # specialty and language
    ([("r5", ["p2-d0-0"])], "eligibility"),  # modality (and specialty)
    ([("r3", ["p1-d1-0"])], "deadline"),  # emergency created 20 h ago, slot tomorrow
    ([("r6", ["p1-d0-0"])], "release"),  # starts before the request exists
    ([("r2", ["p1-d0-0"])], "duration"),  # needs two slots
    ([("r2", ["p1-d0-0", "p1-d0-2"])], "duration"),  # not consecutive
    ([("r1", ["p1-d0-0"]), ("r2", ["p1-d0-1", "p1-d0-2"]), ("r5", ["p1-d0-3"])],
     "daily_max"),  # 4 > 3
    ([("r1", ["nope"])], "unknown"),
])
def test_validator_catches_each_kind(hand, apps, kind):
    plan = Plan([Appointment(r, "p1", tuple(s), NOW) if s == ["nope"] else _app(hand, r, s)
                 for r, s in apps])
    kinds = {v.kind for v in check(plan, hand)}
    assert kind in kinds


# ----------------------------------------------------------------------------- all modes


@pytest.mark.parametrize("seed", range(4))
def test_every_mode_has_zero_violations(seed):
    problem = generate(30 + 10 * seed, 6 + seed, seed=seed)
    cp = CompiledProblem(problem)
    cands = generate_candidates(cp)
    plans = [fcfs(cp, cands), greedy(cp, cands), online_plan(problem),
             optimise(problem, time_limit_s=3.0),
             optimise(problem, method="cpsat", time_limit_s=2.0),
             exact(cp, cands=cands, time_limit_s=2.0)]
    for plan in plans:
        assert check(plan, problem) == [], plan.mode
        booked = {a.request_id for a in plan.appointments}
        assert booked.isdisjoint(plan.unassigned) or plan.mode == "online"
        assert len(booked) == len(plan.appointments)


@pytest.mark.parametrize("seed", range(3))
def test_batch_within_two_percent_of_cpsat_optimum(seed):
    problem = generate(30, 6, seed=seed)
    ex = exact(problem, time_limit_s=20.0)
    assert ex.status == "optimal"
    ours = optimise(problem, time_limit_s=5.0)
    opt = evaluate(ex, problem)["objective"]
    obj = evaluate(ours, problem)["objective"]
    assert obj >= opt - 0.02 * abs(opt)
    assert obj <= ex.bound + 1e-6  # the proven bound really bounds
    assert ours.bound is not None and max(obj, opt) <= ours.bound + 1e-6


def test_lp_decomposition_alone_is_close_and_bounded():
    problem = generate(200, 40, seed=5)
    plan = optimise(problem, polish=False)
    obj = evaluate(plan, problem)["objective"]
    assert check(plan, problem) == []
    assert plan.bound >= obj
    assert (plan.bound - obj) / plan.bound < 0.02


def test_solver_scores_agree_with_reference_objective():
    problem = generate(60, 12, seed=3)
    plan = optimise(problem, polish=False)
    assert evaluate(plan, problem)["objective"] == pytest.approx(
        max(plan.info["value_lp_rounded"], plan.info["value_greedy"]), abs=1e-3)


# ----------------------------------------------------------------------------- behaviour


def test_urgency_ordering_beats_fcfs_on_constructed_case():
    # one slot today, one next week; a week-old routine request and a fresh emergency
    pr = [_prac("p1")]
    slots = _slots("p1", 0, 9, 1) + _slots("p1", 7, 9, 1)
    reqs = [_req("routine", created_h=-24 * 6), _req("emerg", urgency="emergency",
                                                     created_h=-1)]
    problem = Problem(requests=reqs, practitioners=pr, slots=slots, now=NOW)
    base = evaluate(fcfs(problem), problem)
    for plan in (greedy(problem), optimise(problem)):
        m = evaluate(plan, problem)
        assert check(plan, problem) == []
        assert m["deadline_misses"] < base["deadline_misses"]
        assert m["urgent_mean_wait_h"] < base["urgent_mean_wait_h"]
        assert {a.request_id: a.slot_ids[0] for a in plan.appointments}["emerg"] == "p1-d0-0"


def test_deadline_policy_is_configurable():
    pr = [_prac("p1")]
    slots = _slots("p1", 1, 9, 1)  # tomorrow 09:00
    reqs = [_req("u", urgency="urgent", created_h=-1)]
    strict = Problem(requests=reqs, practitioners=pr, slots=slots, now=NOW,
                     deadlines=DeadlinePolicy(urgent_h=12))
    loose = dataclasses.replace(strict, deadlines=DeadlinePolicy(urgent_h=48))
    assert optimise(strict).appointments == []
    assert "u" in optimise(strict).unassigned
    assert len(optimise(loose).appointments) == 1


def test_continuity_weight_picks_the_same_specialist():
    pr = [_prac("p1"), _prac("p2")]
    slots = _slots("p1", 0, 9, 2) + _slots("p2", 0, 9, 2)
    reqs = [_req("f", quality={"p1": 0.9, "p2": 0.6}, follow="p2")]
    w = Weights(continuity=2.0)
    problem = Problem(requests=reqs, practitioners=pr, slots=slots, now=NOW, weights=w)
    assert optimise(problem).appointments[0].practitioner_id == "p2"
    no = dataclasses.replace(problem, weights=Weights(continuity=0.0))
    assert optimise(no).appointments[0].practitioner_id == "p1"


def test_online_suggestions_respect_constraints_and_prefer_quality():
    pr = [_prac("lo", inst="org-a"), _prac("hi", inst="org-b"),
          _prac("en", langs=("en",), inst="org-c")]
    slots = _slots("lo", 0, 9, 4) + _slots("hi", 0, 9, 4) + _slots("en", 0, 9, 4)
    problem = Problem(requests=[], practitioners=pr, slots=slots, now=NOW)
    state = ScheduleState(problem)
    r = _req("n1", quality={"lo": 0.2, "hi": 0.9, "en": 1.0}, created_h=0)
    sug = suggest(state, r, k=3)
    assert [s.practitioner_id for s in sug] == ["hi", "lo"]  # "en" does not speak zh
    assert sug[0].reasons and any("match quality 0.90" in x for x in sug[0].reasons)
    state.book(r, sug[0].slot_ids[0])
    with pytest.raises(SlotTaken):
        state.book(_req("n2", created_h=0), sug[0].slot_ids[0])
    with pytest.raises(NotEligible):  # an adjusted pick that breaks a hard rule
        state.book(_req("n3", created_h=0), "en-d0-1")
    with pytest.raises(NotEligible):
        state.book(_req("n4", created_h=0, dur=2), "hi-d0-3")  # runs off the session


def test_online_mode_on_generated_state_stays_valid():
    # Its latency is `regioncare bench scheduler` (online_p99_ms), not a bar on a CI box.
    problem = generate(300, 60, seed=2)
    plan = optimise(problem, polish=False)
    state = ScheduleState(problem, plan)
    extra = new_requests(problem, 150, seed=1)
    booked = []
    for r in extra:
        sug = suggest(state, r, k=3)
        assert len({s.practitioner_id for s in sug}) == len(sug) <= 3
        assert all(a.score >= b.score for a, b in zip(sug, sug[1:], strict=False))
        if sug:
            booked.append(state.book(r, sug[0].slot_ids[0]))
    full = dataclasses.replace(problem, requests=list(problem.requests) + extra)
    assert check(Plan(list(plan.appointments) + booked), full) == []


def test_benchmark_quick_has_contract_keys():
    from benchmarks.scheduler import run

    out = run(None, quick=True)
    assert out["instances"] and "online_p99_ms" in out and "replan_5000x500_s" in out
    for inst in out["instances"]:
        for k in ("requests", "practitioners", "slots", "objective", "optimum_or_bound", "gap",
                  "seconds", "violations", "fcfs", "ours"):
            assert k in inst
        assert set(inst["fcfs"]) >= {"objective", "urgent_mean_wait_h", "deadline_misses",
                                     "gini"}
        assert inst["violations"] == 0
        assert inst["gap"] <= 0.02
    assert out["total_violations"] == 0
