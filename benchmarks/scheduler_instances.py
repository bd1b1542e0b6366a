"""Synthetic scheduling instances for the scheduler benchmark and tests.

A region of institutions in three tiers; practitioners release a few half-day or two-hour
sessions of 30-minute slots to the regional platform over a two-week horizon (working days,
08:00-12:00 and 13:00-17:00), part of them already booked.  Open requests are the backlog at
``now`` (Monday 08:00): routine ones created over the last week, urgent ones over the last
36 h, emergencies over the last 16 h.  The supply of free slot units is sized so that the
demand is ``load`` of it; the first days are contested, which is where urgency matters.

Match quality comes from a simple latent-skill model (tertiary specialists score higher on
average), standing in for the referral model's output.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from models.scheduling import Location, Practitioner, Problem, Request, Slot, Weights

SPECIALTIES = ("cardiology", "neurology", "oncology", "endocrinology", "nephrology",
               "pulmonology", "gastroenterology", "orthopaedics", "dermatology",
               "ophthalmology", "paediatrics", "psychiatry")
NOW = datetime(2026, 11, 30, 8, 0)  # a Monday


def generate(n_requests: int, n_practitioners: int, *, seed: int = 0, days: int = 14,
             load: float = 0.9, prebooked: float = 0.3, weights: Weights | None = None,
             now: datetime = NOW) -> Problem:
    rng = np.random.default_rng(seed)
    n_inst = max(3, n_practitioners // 8)
    tiers = rng.choice(["community", "secondary", "tertiary"], size=n_inst, p=[0.5, 0.3, 0.2])
    tiers[0], tiers[1], tiers[2] = "community", "secondary", "tertiary"
    ilat = 30.0 + rng.uniform(-1.0, 1.0, n_inst)
    ilon = 120.0 + rng.uniform(-1.0, 1.0, n_inst)
    size = np.array([{"community": 1.0, "secondary": 2.0, "tertiary": 4.0}[t] for t in tiers])
    inst_of = rng.choice(n_inst, size=n_practitioners, p=size / size.sum())
    inst_of[: min(n_inst, n_practitioners)] = np.arange(min(n_inst, n_practitioners))
    # a small region offers fewer specialties (each with a few practitioners)
    n_spec = int(min(len(SPECIALTIES), max(3, n_practitioners // 12)))
    spec_pop = np.zeros(len(SPECIALTIES))
    spec_pop[:n_spec] = rng.dirichlet(np.full(n_spec, 4.0))
    mean_dur = 1.4
    free_units = n_requests * mean_dur / load
    units_per_prac = free_units / (1 - prebooked) / n_practitioners
    practitioners: list[Practitioner] = []
    slots: list[Slot] = []
    skill = np.zeros(n_practitioners)
    workdays = [d for d in range(days) if (now + timedelta(days=d)).weekday() < 5]
    for k in range(n_practitioners):
        i = int(inst_of[k])
        tier = str(tiers[i])
        nspec = 1 if rng.random() < 0.6 else 2
        specs = frozenset(rng.choice(SPECIALTIES, size=min(nspec, n_spec), replace=False,
                                     p=spec_pop))
        langs = {"zh"}
        if rng.random() < 0.2:
            langs.add("en")
        if rng.random() < 0.15:
            langs.add("yue")
        mods = {"in_person"}
        if rng.random() < 0.7:
            mods.add("remote")
        skill[k] = rng.normal({"community": -0.5, "secondary": 0.0, "tertiary": 0.6}[tier], 0.5)
        pid = f"prac-{k:04d}"
        practitioners.append(Practitioner(
            id=pid, institution=f"org-{i:03d}", tier=tier, specialties=specs,
            languages=frozenset(langs), location=Location(float(ilat[i]), float(ilon[i])),
            daily_max_slots=int(rng.integers(5, 10)), modalities=frozenset(mods)))
        # sessions: 2-hour or half-day blocks on random working day halves
        target = rng.poisson(units_per_prac) + 1
        halves = [(d, h) for d in workdays for h in (8, 13)]
        rng.shuffle(halves)
        cap2 = "remote" in mods and rng.random() < 0.1
        got = 0
        for d, h in halves:
            if got >= target:
                break
            length = 8 if rng.random() < 0.4 else 4
            off = 0 if length == 8 else int(rng.integers(0, 5))
            for j in range(length):
                start = now.replace(hour=h) + timedelta(days=d, minutes=30 * (off + j))
                cap = 2 if cap2 else 1
                booked = int(rng.binomial(cap, prebooked))
                slots.append(Slot(id=f"slot-{k:04d}-{d:02d}-{h + (off + j) / 2:05.1f}",
                                  practitioner=pid, start=start, capacity=cap, booked=booked))
                got += cap
    by_spec: dict[str, list[int]] = {s: [] for s in SPECIALTIES}
    for k, p in enumerate(practitioners):
        for s in p.specialties:
            by_spec[s].append(k)
    offered = [s for s in SPECIALTIES if by_spec[s]]
    pop = np.array([spec_pop[SPECIALTIES.index(s)] for s in offered])
    requests: list[Request] = []
    for n in range(n_requests):
        spec = str(rng.choice(offered, p=pop / pop.sum()))
        u = rng.random()
        urgency = "emergency" if u < 0.08 else "urgent" if u < 0.30 else "routine"
        back_h = {"emergency": 16.0, "urgent": 36.0, "routine": 7 * 24.0}[urgency]
        created = now - timedelta(minutes=int(rng.uniform(0, back_h) * 60))
        modality = "remote" if rng.random() < 0.4 else "in_person"
        lang = "zh" if rng.random() < 0.9 else ("en" if rng.random() < 0.6 else "yue")
        if modality == "remote":
            dur = 1 if rng.random() < 0.8 else 2
        else:
            dur = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        home = int(rng.integers(n_inst))
        loc = Location(float(ilat[home] + rng.normal(0, 0.1)),
                       float(ilon[home] + rng.normal(0, 0.1)))
        pr = rng.random()
        pref = () if pr < 0.5 else ((8, 12),) if pr < 0.75 else ((13, 17),)
        cands = by_spec[spec]
        noise = rng.normal(0, 0.4, len(cands))
        quality = {practitioners[k].id: round(1 / (1 + math.exp(-(skill[k] + e))), 4)
                   for k, e in zip(cands, noise, strict=True)}
        follow = None
        if rng.random() < 0.2:
            ok = [k for k in cands if lang in practitioners[k].languages
                  and modality in practitioners[k].modalities]
            if ok:
                follow = practitioners[int(rng.choice(ok))].id
        requests.append(Request(
            id=f"req-{n:05d}", specialty=spec, modality=modality, urgency=urgency,
            created=created, language=lang, location=loc, preferred_hours=pref,
            duration_slots=dur, follow_up_of=follow, match_quality=quality))
    return Problem(requests=requests, practitioners=practitioners, slots=slots, now=now,
                   weights=weights or Weights())


def new_requests(problem: Problem, n: int, *, seed: int = 0) -> list[Request]:
    """``n`` fresh requests arriving at ``problem.now`` (for the online mode)."""
    rng = np.random.default_rng(seed + 10_000)
    pracs = list(problem.practitioners)
    specs = sorted({s for p in pracs for s in p.specialties})
    out = []
    for k in range(n):
        spec = specs[int(rng.integers(len(specs)))]
        u = rng.random()
        urgency = "emergency" if u < 0.08 else "urgent" if u < 0.30 else "routine"
        modality = "remote" if rng.random() < 0.4 else "in_person"
        lang = "zh" if rng.random() < 0.9 else ("en" if rng.random() < 0.6 else "yue")
        dur = 1 if modality == "remote" else int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        pr = rng.random()
        pref = () if pr < 0.5 else ((8, 12),) if pr < 0.75 else ((13, 17),)
        quality = {p.id: round(float(rng.uniform(0.1, 0.95)), 4) for p in pracs
                   if spec in p.specialties}
        out.append(Request(
            id=f"new-{seed}-{k:05d}", specialty=spec, modality=modality, urgency=urgency,
            created=problem.now, language=lang,
            location=Location(float(30 + rng.uniform(-1, 1)), float(120 + rng.uniform(-1, 1))),
            preferred_hours=pref, duration_slots=dur, match_quality=quality))
    return out
