"""The hard-constraint validator, written from the objects (not the solvers' arrays) so that
it checks the solvers rather than repeating them.

Kinds: ``unknown`` (request, practitioner or slot not in the problem), ``double_booking``
(a request booked more than once), ``duration`` (slot count differs from the request's
duration, slots not consecutive, not the practitioner's, or ``start`` not the first slot's),
``eligibility`` (specialty, language or modality), ``release`` (starts before the request
was created or before ``problem.now``), ``deadline`` (ends after the deadline),
``capacity`` (a slot holds more than its capacity, counting existing bookings) and
``daily_max`` (a practitioner's booked slot units on a day exceed the daily maximum on a
day where the plan adds some).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta

from .problem import Plan, Problem


@dataclass(frozen=True)
class Violation:
    kind: str
    request_id: str | None
    detail: str
    slot_id: str | None = None


def check(plan: Plan, problem: Problem) -> list[Violation]:
    reqs = {r.id: r for r in problem.requests}
    pracs = {p.id: p for p in problem.practitioners}
    slots = {s.id: s for s in problem.slots}
    out: list[Violation] = []
    seen: Counter[str] = Counter()
    use: Counter[str] = Counter()
    day_new: dict[tuple[str, object], int] = defaultdict(int)
    for a in plan.appointments:
        r = reqs.get(a.request_id)
        p = pracs.get(a.practitioner_id)
        found = [slots.get(x) for x in a.slot_ids]
        ss = [s for s in found if s is not None]
        if r is None or p is None or not ss or len(ss) != len(found):
            out.append(Violation("unknown", a.request_id, "unknown request/practitioner/slot"))
            continue
        seen[r.id] += 1
        if seen[r.id] == 2:
            out.append(Violation("double_booking", r.id, "request booked more than once"))
        ok = len(ss) == r.duration_slots and ss[0].start == a.start
        ok = ok and all(s.practitioner == p.id for s in ss)
        ok = ok and all(b.start == x.start + timedelta(minutes=x.minutes)
                        for x, b in zip(ss, ss[1:], strict=False))
        if not ok:
            out.append(Violation("duration", r.id,
                                 f"{len(ss)} slots for duration {r.duration_slots}, "
                                 "or not consecutive slots of the practitioner"))
        if r.specialty not in p.specialties:
            out.append(Violation("eligibility", r.id, f"specialty {r.specialty} not offered"))
        if r.language not in p.languages:
            out.append(Violation("eligibility", r.id, f"language {r.language} not spoken"))
        if r.modality not in p.modalities:
            out.append(Violation("eligibility", r.id, f"modality {r.modality} not offered"))
        start = ss[0].start
        end = ss[-1].start + timedelta(minutes=ss[-1].minutes)
        if start < max(r.created, problem.now):
            out.append(Violation("release", r.id, f"starts {start} before release"))
        dl = problem.deadline_of(r)
        if end > dl:
            out.append(Violation("deadline", r.id, f"ends {end} after deadline {dl}"))
        for s in ss:
            use[s.id] += 1
            day_new[(s.practitioner, s.start.date())] += 1
    for sid, n in use.items():
        s = slots[sid]
        if s.booked + n > s.capacity:
            out.append(Violation("capacity", None,
                                 f"{s.booked}+{n} bookings for capacity {s.capacity}", sid))
    if day_new:
        day_pre: Counter[tuple[str, object]] = Counter()
        for s in problem.slots:
            if s.booked:
                day_pre[(s.practitioner, s.start.date())] += s.booked
        for (pid, day), n in day_new.items():
            mx = pracs[pid].daily_max_slots
            if day_pre[(pid, day)] + n > mx:
                out.append(Violation("daily_max", None,
                                     f"{pid} on {day}: {day_pre[(pid, day)]}+{n} > {mx}"))
    return out
