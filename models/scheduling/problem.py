"""The scheduling problem in FHIR words: requests (ServiceRequest), practitioners
(Practitioner/PractitionerRole), slots (Slot of a Schedule) and the plan (Appointments).

Pure data and pure arithmetic: no IO. ``compile_problem`` turns the objects into numpy
arrays once; every solver (baselines, batch optimiser, exact CP-SAT, online mode) scores
candidates with the one vectorised function ``score_pairs`` so that all modes optimise the
same objective, and ``objective.evaluate`` recomputes it independently from the objects.

Time rule (one rule, every mode): a request is only ever booked into slots that start at or
after ``max(created, problem.now)`` and end at or before its deadline.  A request that
cannot be booked that way is left unassigned and reported (``Plan.unassigned``); it counts
as a deadline miss when its deadline falls inside the planning horizon.  Nothing is ever
booked late.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

URGENCIES: tuple[str, ...] = ("routine", "urgent", "emergency")
MODALITIES: tuple[str, ...] = ("in_person", "remote")
TIERS: tuple[str, ...] = ("community", "secondary", "tertiary")
SLOT_MINUTES = 30
SLOT_H = SLOT_MINUTES / 60.0
MAX_DURATION = 4  # slots (2 hours): the longest request the model books


@dataclass(frozen=True)
class DeadlinePolicy:
    """How long each urgency may wait from ``created`` to the end of its appointment."""

    emergency_h: float = 24.0
    urgent_h: float = 48.0
    routine_h: float = 14 * 24.0

    def hours(self, urgency: str) -> float:
        return {"emergency": self.emergency_h, "urgent": self.urgent_h,
                "routine": self.routine_h}[urgency]

    def deadline(self, created: datetime, urgency: str) -> datetime:
        return created + timedelta(hours=self.hours(urgency))


@dataclass(frozen=True)
class Weights:
    """Soft goals, all in one place.  The objective is *maximised*; per booked request:

    ``serve[urgency] + match_quality * q - waiting * wait_per_day[urgency] * wait_days
    + continuity * [same specialist] - travel * km / 100 (in person only)
    + preference * [preferred time] + tier_share * tier_bonus[tier] * duration
    - no_show * no_show_risk * wait_days``

    minus convex load penalties: for every practitioner (and every institution) each
    booked slot unit costs ``practitioner_load * load_marginal[k]`` where ``k`` is the
    quarter of that practitioner's capacity the unit falls into (existing bookings fill
    the first quarters), i.e. a piecewise-linear ``u**2`` - spreading load is cheaper.
    ``serve`` exceeds the largest possible penalty so that booking a request always beats
    leaving it unbooked, and emergencies outrank urgent outrank routine when slots are short.

    ``no_show`` is the overbooking-free use of a request's learned no-show risk: no-shows
    rise with lead time, so a risky request's wait costs more and it is booked sooner
    (which lowers its risk) instead of being double-booked; there is no constant term, so
    a risky patient is never less likely to be served.  With risk 0 (no model) it is off.
    """

    serve_routine: float = 3.0
    serve_urgent: float = 5.0
    serve_emergency: float = 8.0
    match_quality: float = 1.0
    default_match_quality: float = 0.3
    waiting: float = 1.0
    wait_per_day_routine: float = 0.05
    wait_per_day_urgent: float = 0.5
    wait_per_day_emergency: float = 2.0
    continuity: float = 0.5
    travel: float = 0.2
    travel_cap_km: float = 300.0
    preference: float = 0.2
    practitioner_load: float = 0.5
    institution_load: float = 0.25
    load_marginal: tuple[float, ...] = (0.25, 0.75, 1.25, 1.75)
    tier_share: float = 0.1
    tier_bonus_community: float = 1.0
    tier_bonus_secondary: float = 0.5
    tier_bonus_tertiary: float = 0.0
    no_show: float = 0.05

    def serve(self) -> np.ndarray:
        return np.array([self.serve_routine, self.serve_urgent, self.serve_emergency])

    def wait_per_day(self) -> np.ndarray:
        return self.waiting * np.array(
            [self.wait_per_day_routine, self.wait_per_day_urgent, self.wait_per_day_emergency]
        )

    def tier_bonus(self) -> np.ndarray:
        return self.tier_share * np.array(
            [self.tier_bonus_community, self.tier_bonus_secondary, self.tier_bonus_tertiary]
        )


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Request:
    """An open request (accepted referral, remote consult, image read, joint clinic).

    ``match_quality`` maps practitioner id -> score in [0, 1] from the referral model;
    practitioners missing from it get ``Weights.default_match_quality``.
    ``preferred_hours`` are local hour-of-day windows ``[start, end)``, e.g. ``((8, 12),)``.
    ``deadline`` defaults to ``created + DeadlinePolicy.hours(urgency)``.
    """

    id: str
    specialty: str
    modality: str  # in_person | remote
    urgency: str  # routine | urgent | emergency
    created: datetime
    deadline: datetime | None = None
    language: str = "zh"
    location: Location | None = None
    preferred_hours: tuple[tuple[int, int], ...] = ()
    duration_slots: int = 1
    follow_up_of: str | None = None
    match_quality: Mapping[str, float] = field(default_factory=dict)
    patient_id: str | None = None
    no_show_risk: float = 0.0  # learned estimate in [0, 1]; 0 = unknown (no model)


@dataclass(frozen=True)
class Practitioner:
    id: str
    institution: str
    tier: str  # community | secondary | tertiary
    specialties: frozenset[str]
    languages: frozenset[str] = frozenset({"zh"})
    location: Location | None = None
    daily_max_slots: int = 16
    modalities: frozenset[str] = frozenset(MODALITIES)


@dataclass(frozen=True)
class Slot:
    """A 30-minute FHIR Slot; ``capacity`` patients at once, ``booked`` already taken."""

    id: str
    practitioner: str
    start: datetime
    capacity: int = 1
    booked: int = 0
    minutes: int = SLOT_MINUTES

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class Problem:
    requests: Sequence[Request]
    practitioners: Sequence[Practitioner]
    slots: Sequence[Slot]
    now: datetime
    weights: Weights = field(default_factory=Weights)
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)

    def deadline_of(self, r: Request) -> datetime:
        return r.deadline if r.deadline is not None else self.deadlines.deadline(
            r.created, r.urgency)


@dataclass(frozen=True)
class Appointment:
    """A booked request: ``slot_ids`` are ``duration_slots`` consecutive slots."""

    request_id: str
    practitioner_id: str
    slot_ids: tuple[str, ...]
    start: datetime


@dataclass
class Plan:
    appointments: list[Appointment]
    unassigned: dict[str, str] = field(default_factory=dict)  # request id -> reason
    mode: str = ""
    seconds: float = 0.0
    bound: float | None = None  # a proven upper bound on the objective, when known
    status: str = ""
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- compile


def haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance (vectorised)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def _hours(t: datetime, epoch: datetime) -> float:
    return (t - epoch).total_seconds() / 3600.0


def _hour_mask(windows: tuple[tuple[int, int], ...]) -> int:
    m = 0
    for a, b in windows:
        for h in range(max(0, a), min(24, b)):
            m |= 1 << h
    return m


@dataclass
class RequestArrays:
    """Requests as arrays (the batch compiles all, the online mode one at a time)."""

    ids: list[str]
    spec: np.ndarray  # int, -1 = unknown specialty
    lang: np.ndarray  # int, -1 = unknown language
    mod: np.ndarray  # 1 in person, 2 remote
    urg: np.ndarray
    created_h: np.ndarray
    release_h: np.ndarray  # max(created, now)
    deadline_h: np.ndarray
    dur: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    has_loc: np.ndarray
    pref_mask: np.ndarray  # int64 bitmask of hours of day
    follow: np.ndarray  # practitioner index or -1
    quality: list[Mapping[str, float]]
    qmat: np.ndarray  # n x practitioners match quality (default filled in)
    risk: np.ndarray  # no-show risk in [0, 1]


class CompiledProblem:
    """Arrays of a :class:`Problem`.  Slots are sorted by (practitioner, start)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        w = problem.weights
        self.weights = w
        self.epoch = problem.now
        self.now_h = 0.0
        self.epoch_hod = (problem.now.hour + problem.now.minute / 60.0
                          + problem.now.second / 3600.0)
        pr = list(problem.practitioners)
        self.prac_ids = [p.id for p in pr]
        self.prac_index = {p.id: i for i, p in enumerate(pr)}
        P = len(pr)
        self.n_prac = P
        specs = sorted({s for p in pr for s in p.specialties})
        self.spec_index = {s: i for i, s in enumerate(specs)}
        langs = sorted({x for p in pr for x in p.languages})
        self.lang_index = {x: i for i, x in enumerate(langs)}
        self.p_spec = np.zeros((P, max(1, len(specs))), dtype=bool)
        self.p_lang = np.zeros((P, max(1, len(langs))), dtype=bool)
        self.p_mod = np.zeros(P, dtype=np.int64)
        for i, p in enumerate(pr):
            for s in p.specialties:
                self.p_spec[i, self.spec_index[s]] = True
            for x in p.languages:
                self.p_lang[i, self.lang_index[x]] = True
            self.p_mod[i] = (1 if "in_person" in p.modalities else 0) | (
                2 if "remote" in p.modalities else 0)
        self.inst_ids = sorted({p.institution for p in pr})
        inst_index = {x: i for i, x in enumerate(self.inst_ids)}
        self.p_inst = np.array([inst_index[p.institution] for p in pr], dtype=np.int64)
        self.n_inst = len(self.inst_ids)
        self.p_tier = np.array([TIERS.index(p.tier) for p in pr], dtype=np.int64)
        self.p_daily_max = np.array([p.daily_max_slots for p in pr], dtype=np.int64)
        self.p_lat = np.array([p.location.lat if p.location else np.nan for p in pr])
        self.p_lon = np.array([p.location.lon if p.location else np.nan for p in pr])
        self.p_tier_bonus = w.tier_bonus()[self.p_tier] if P else np.zeros(0)

        # slots, sorted by practitioner then start
        sl = [s for s in problem.slots if s.practitioner in self.prac_index]
        keyed = sorted(sl, key=lambda s: (self.prac_index[s.practitioner], s.start))
        self.slots = keyed
        S = len(keyed)
        self.n_slots = S
        self.slot_ids = [s.id for s in keyed]
        self.slot_index = {s.id: i for i, s in enumerate(keyed)}
        self.s_prac = np.array([self.prac_index[s.practitioner] for s in keyed], dtype=np.int64)
        self.s_start_h = np.array([_hours(s.start, self.epoch) for s in keyed], dtype=float)
        self.s_cap = np.array([s.capacity for s in keyed], dtype=np.int64)
        self.s_booked = np.array([min(s.booked, s.capacity) for s in keyed], dtype=np.int64)
        self.s_free = self.s_cap - self.s_booked
        self.s_day = np.floor((self.s_start_h + self.epoch_hod) / 24.0).astype(np.int64)
        if S:
            self.day0 = int(self.s_day.min())
            self.s_day -= self.day0
            self.n_days = int(self.s_day.max()) + 1
        else:
            self.day0, self.n_days = 0, 1
        self.s_hod = np.floor(np.mod(self.s_start_h + self.epoch_hod, 24.0)).astype(np.int64)
        nxt = np.full(S, -1, dtype=np.int64)
        if S > 1:
            same = (self.s_prac[1:] == self.s_prac[:-1]) & (
                np.abs(self.s_start_h[1:] - self.s_start_h[:-1] - SLOT_H) < 1e-6)
            nxt[:-1][same] = np.arange(1, S)[same]
        self.s_next = nxt
        # cover[s, j] = the j-th slot of a booking that starts at s (or -1)
        cov = np.full((S, MAX_DURATION), -1, dtype=np.int64)
        if S:
            cov[:, 0] = np.arange(S)
            for j in range(1, MAX_DURATION):
                prev = cov[:, j - 1]
                ok = prev >= 0
                cov[ok, j] = nxt[prev[ok]]
        self.s_cover = cov
        self.horizon_end_h = float((self.s_start_h + SLOT_H).max()) if S else 0.0
        # practitioner slot ranges
        self.p_slot_lo = np.searchsorted(self.s_prac, np.arange(P), side="left")
        self.p_slot_hi = np.searchsorted(self.s_prac, np.arange(P), side="right")
        # capacity and existing load
        self.p_cap = np.bincount(self.s_prac, weights=self.s_cap, minlength=P).astype(np.int64)
        self.p_pre = np.bincount(self.s_prac, weights=self.s_booked,
                                 minlength=P).astype(np.int64)
        self.i_cap = np.bincount(self.p_inst, weights=self.p_cap,
                                 minlength=self.n_inst).astype(np.int64)
        self.i_pre = np.bincount(self.p_inst, weights=self.p_pre,
                                 minlength=self.n_inst).astype(np.int64)
        self.pd_pre = np.zeros((P, self.n_days), dtype=np.int64)
        np.add.at(self.pd_pre, (self.s_prac, self.s_day), self.s_booked)
        # convex load segments (new units per quarter of capacity, after existing load)
        m = np.asarray(w.load_marginal, dtype=float)
        self.seg_cost_p = w.practitioner_load * m
        self.seg_cost_i = w.institution_load * m
        self.p_seg = segment_capacities(self.p_cap, self.p_pre, len(m))
        self.i_seg = segment_capacities(self.i_cap, self.i_pre, len(m))
        # penalty_table[row, n] = penalty of n new units (marginals by two look-ups)
        self.p_pen = penalty_table(self.p_seg, self.seg_cost_p)
        self.i_pen = penalty_table(self.i_seg, self.seg_cost_i)
        # specialty -> practitioners (online mode)
        self.spec_pracs = [np.nonzero(self.p_spec[:, j])[0] for j in range(self.p_spec.shape[1])]

        self.requests = list(problem.requests)
        self.req_index = {r.id: i for i, r in enumerate(self.requests)}
        self.ra = self.request_arrays(self.requests)

    # -- requests
    def request_arrays(self, requests: Sequence[Request]) -> RequestArrays:
        pb = self.problem
        created = np.array([_hours(r.created, self.epoch) for r in requests], dtype=float)
        deadline = np.array([_hours(pb.deadline_of(r), self.epoch) for r in requests],
                            dtype=float)
        return RequestArrays(
            ids=[r.id for r in requests],
            spec=np.array([self.spec_index.get(r.specialty, -1) for r in requests],
                          dtype=np.int64),
            lang=np.array([self.lang_index.get(r.language, -1) for r in requests],
                          dtype=np.int64),
            mod=np.array([1 if r.modality == "in_person" else 2 for r in requests],
                         dtype=np.int64),
            urg=np.array([URGENCIES.index(r.urgency) for r in requests], dtype=np.int64),
            created_h=created,
            release_h=np.maximum(created, self.now_h),
            deadline_h=deadline,
            dur=np.array([max(1, int(r.duration_slots)) for r in requests], dtype=np.int64),
            lat=np.array([r.location.lat if r.location else np.nan for r in requests]),
            lon=np.array([r.location.lon if r.location else np.nan for r in requests]),
            has_loc=np.array([r.location is not None for r in requests], dtype=bool),
            pref_mask=np.array([_hour_mask(r.preferred_hours) for r in requests],
                               dtype=np.int64),
            follow=np.array([self.prac_index.get(r.follow_up_of, -1) if r.follow_up_of
                             else -1 for r in requests], dtype=np.int64),
            quality=[r.match_quality for r in requests],
            qmat=self._qmat(requests),
            risk=np.clip(np.array([float(r.no_show_risk) for r in requests], dtype=float),
                         0.0, 1.0),
        )

    def _qmat(self, requests: Sequence[Request]) -> np.ndarray:
        q = np.full((len(requests), self.n_prac), self.weights.default_match_quality)
        pi = self.prac_index
        for i, r in enumerate(requests):
            for pid, val in r.match_quality.items():
                j = pi.get(pid)
                if j is not None:
                    q[i, j] = float(val)
        return q

    def eligible_pracs(self, ra: RequestArrays, i: int) -> np.ndarray:
        """Practitioners eligible for request ``i`` (specialty, language, modality)."""
        if ra.spec[i] < 0 or ra.lang[i] < 0:
            return np.zeros(0, dtype=np.int64)
        ps = self.spec_pracs[ra.spec[i]]
        ok = self.p_lang[ps, ra.lang[i]] & ((self.p_mod[ps] & ra.mod[i]) != 0)
        return ps[ok]


def segment_capacities(cap: np.ndarray, pre: np.ndarray, k: int) -> np.ndarray:
    """New units each of ``k`` equal capacity quarters can still take after ``pre``."""
    cap = np.asarray(cap, dtype=float)
    bps = np.outer(cap, np.arange(k + 1) / k)  # n x (k+1)
    lo = np.maximum(bps[:, :-1], np.asarray(pre, dtype=float)[:, None])
    seg = np.maximum(0.0, bps[:, 1:] - lo)
    seg = np.floor(seg + 1e-9).astype(np.int64)
    # integer segments must sum to the free capacity: put the rounding into the last one
    free = np.maximum(0, np.asarray(cap, dtype=np.int64) - np.asarray(pre, dtype=np.int64))
    seg[:, -1] += free - seg.sum(axis=1)
    return seg


def load_penalty(new_units: np.ndarray, seg: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Convex penalty of ``new_units`` per row filling the cheapest segments first."""
    new_units = np.asarray(new_units, dtype=np.int64)
    cum = np.cumsum(seg, axis=1)
    start = cum - seg
    filled = np.clip(new_units[:, None] - start, 0, seg)
    # units beyond the segments (over capacity: infeasible anyway) cost the last rate
    over = np.maximum(0, new_units - cum[:, -1]) if seg.shape[1] else new_units
    return filled @ costs + over * (costs[-1] if len(costs) else 0.0)


def penalty_table(seg: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """``T[row, n]`` = ``load_penalty(n)`` for n up to the free capacity + MAX_DURATION."""
    width = int(seg.sum(axis=1).max(initial=0)) + MAX_DURATION + 1
    n = np.arange(width)
    rows = seg.shape[0]
    T = np.zeros((rows, width))
    for k in range(rows):
        T[k] = load_penalty(n, np.repeat(seg[k:k + 1], width, axis=0), costs)
    return T


def marginal_load_cost(cur: np.ndarray, d: np.ndarray, seg: np.ndarray,
                       costs: np.ndarray) -> np.ndarray:
    """Cost of adding ``d`` units to rows currently at ``cur`` new units (vectorised)."""
    return load_penalty(cur + d, seg, costs) - load_penalty(cur, seg, costs)


def score_pairs(cp: CompiledProblem, ra: RequestArrays, r: np.ndarray, s: np.ndarray,
                km: np.ndarray | None = None) -> np.ndarray:
    """Assignment value of booking request ``r`` at start slot ``s`` (vectorised).

    Excludes the convex load penalties (they depend on the whole plan).  ``km``: the
    patient-practitioner distances when the caller has them already.
    """
    w = cp.weights
    p = cp.s_prac[s]
    urg = ra.urg[r]
    v = w.serve()[urg]
    wait_d = (cp.s_start_h[s] - ra.created_h[r]) / 24.0
    v = v - w.wait_per_day()[urg] * wait_d
    v = v - w.no_show * ra.risk[r] * wait_d
    v = v + w.match_quality * ra.qmat[r, p]
    v = v + w.continuity * (ra.follow[r] == p)
    inp = (ra.mod[r] == 1) & ra.has_loc[r] & ~np.isnan(cp.p_lat[p])
    if inp.any():
        if km is None:
            d = haversine_km(ra.lat[r][inp], ra.lon[r][inp], cp.p_lat[p][inp],
                             cp.p_lon[p][inp])
        else:
            d = km[inp]
        v[inp] -= w.travel * np.minimum(d, w.travel_cap_km) / 100.0
    pref = ((ra.pref_mask[r] >> cp.s_hod[s]) & 1) == 1
    v = v + w.preference * pref
    v = v + cp.p_tier_bonus[p] * ra.dur[r]
    return v
