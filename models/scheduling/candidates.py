"""Feasible (request, start slot) candidates and the mutable usage of a plan.

A candidate is feasible on its own: eligible practitioner (specialty, language, modality),
``duration`` consecutive slots with a free place each, inside ``[release, deadline]`` and
within the practitioner's daily maximum given the existing bookings.  What candidates can
share (slot places, daily maxima) is decided by the solvers; :class:`Usage` tracks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import (
    MAX_DURATION,
    SLOT_H,
    Appointment,
    CompiledProblem,
    RequestArrays,
    haversine_km,
    score_pairs,
)

EPS = 1e-6


@dataclass
class Candidates:
    r: np.ndarray  # request index
    s: np.ndarray  # start slot index
    p: np.ndarray  # practitioner index
    d: np.ndarray  # duration (slots)
    day: np.ndarray  # day index of the start slot
    v: np.ndarray  # value without load penalties
    cover: np.ndarray  # n x MAX_DURATION slot indices (-1 beyond d)
    req_lo: np.ndarray  # candidates of request i are [req_lo[i], req_hi[i]) (sorted by -v)
    req_hi: np.ndarray

    def __len__(self) -> int:
        return len(self.r)

    def of(self, i: int) -> slice:
        return slice(int(self.req_lo[i]), int(self.req_hi[i]))


def free_run(cp: CompiledProblem, free: np.ndarray) -> np.ndarray:
    """Number of consecutive slots (<= MAX_DURATION) with a free place from each slot."""
    S = cp.n_slots
    run = np.zeros(S, dtype=np.int64)
    alive = np.ones(S, dtype=bool)
    for j in range(MAX_DURATION):
        c = cp.s_cover[:, j]
        ok = alive & (c >= 0)
        ok[ok] = free[c[ok]] >= 1
        run += ok
        alive = ok
    return run


def generate_candidates(cp: CompiledProblem, ra: RequestArrays | None = None, *,
                        per_pair: int | None = None, per_request: int | None = None
                        ) -> Candidates:
    """All feasible candidates, optionally pruned to the ``per_pair`` best start slots for
    each (request, practitioner) and the ``per_request`` best per request."""
    ra = ra if ra is not None else cp.ra
    R = len(ra.ids)
    run = free_run(cp, cp.s_free)
    valid = (ra.spec >= 0) & (ra.lang >= 0)
    spec = np.where(valid, ra.spec, 0)
    lang = np.where(valid, ra.lang, 0)
    E = cp.p_spec[:, spec] & cp.p_lang[:, lang] & ((cp.p_mod[:, None] & ra.mod[None, :]) != 0)
    E &= valid[None, :]
    rs, ss, vs = [], [], []
    for p in range(cp.n_prac):
        lo, hi = int(cp.p_slot_lo[p]), int(cp.p_slot_hi[p])
        if hi <= lo:
            continue
        Rp = np.flatnonzero(E[p])
        if not len(Rp):
            continue
        sl = np.arange(lo, hi)
        st = cp.s_start_h[sl]
        dur = ra.dur[Rp][:, None]
        room = (cp.p_daily_max[p] - cp.pd_pre[p, cp.s_day[sl]])[None, :]
        M = ((st[None, :] >= ra.release_h[Rp][:, None] - EPS)
             & (st[None, :] + dur * SLOT_H <= ra.deadline_h[Rp][:, None] + EPS)
             & (run[sl][None, :] >= dur) & (dur <= room))
        ii, jj = np.nonzero(M)
        if not len(ii):
            continue
        r_, s_ = Rp[ii], sl[jj]
        km = haversine_km(ra.lat[Rp], ra.lon[Rp], cp.p_lat[p], cp.p_lon[p])
        v_ = score_pairs(cp, ra, r_, s_, km=km[ii])
        if per_pair is not None and M.shape[1] > per_pair:
            V = np.full(M.shape, -np.inf)
            V[ii, jj] = v_
            top = np.argpartition(-V, per_pair - 1, axis=1)[:, :per_pair]
            rows = np.repeat(np.arange(M.shape[0]), per_pair)
            cols = top.ravel()
            keep = np.isfinite(V[rows, cols])
            rows, cols = rows[keep], cols[keep]
            r_, s_, v_ = Rp[rows], sl[cols], V[rows, cols]
        rs.append(r_)
        ss.append(s_)
        vs.append(v_)
    if rs:
        r = np.concatenate(rs)
        s = np.concatenate(ss)
        v = np.concatenate(vs)
    else:
        r = s = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    # group by request, best value first (one float key sorts faster than a lexsort)
    span = float(np.ptp(v)) + 1.0 if len(v) else 1.0
    order = np.argsort(r * span + (v.max(initial=0.0) - v), kind="stable")
    r, s, v = r[order], s[order], v[order]
    if per_request is not None and len(r):
        first = np.searchsorted(r, r, side="left")
        rank = np.arange(len(r)) - first
        keep = rank < per_request
        r, s, v = r[keep], s[keep], v[keep]
    return _pack(cp, ra, r, s, v, R)


def _pack(cp, ra, r, s, v, R) -> Candidates:
    d = ra.dur[r]
    cover = cp.s_cover[s] if len(s) else np.zeros((0, MAX_DURATION), dtype=np.int64)
    if len(s):
        cover[np.arange(MAX_DURATION)[None, :] >= d[:, None]] = -1
    lo = np.searchsorted(r, np.arange(R), side="left")
    hi = np.searchsorted(r, np.arange(R), side="right")
    return Candidates(r=r, s=s, p=cp.s_prac[s], d=d, day=cp.s_day[s], v=v, cover=cover,
                      req_lo=lo, req_hi=hi)


class Usage:
    """Free places, daily use and new load while a plan is being built."""

    def __init__(self, cp: CompiledProblem):
        self.cp = cp
        self.free = cp.s_free.copy()
        self.pd_used = cp.pd_pre.copy()
        self.p_new = np.zeros(cp.n_prac, dtype=np.int64)
        self.i_new = np.zeros(cp.n_inst, dtype=np.int64)

    def copy(self) -> Usage:
        u = Usage.__new__(Usage)
        u.cp = self.cp
        u.free = self.free.copy()
        u.pd_used = self.pd_used.copy()
        u.p_new = self.p_new.copy()
        u.i_new = self.i_new.copy()
        return u

    def feasible(self, cover: np.ndarray, p: np.ndarray, day: np.ndarray, d: np.ndarray
                 ) -> np.ndarray:
        cov_ok = (cover < 0) | (self.free[np.maximum(cover, 0)] >= 1)
        return cov_ok.all(axis=1) & (self.pd_used[p, day] + d <= self.cp.p_daily_max[p])

    def marginal(self, p: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Added convex load penalty of ``d`` more units at practitioners ``p``."""
        cp = self.cp
        i = cp.p_inst[p]
        a, b = self.p_new[p], self.i_new[i]
        wp, wi = cp.p_pen.shape[1] - 1, cp.i_pen.shape[1] - 1
        return (cp.p_pen[p, np.minimum(a + d, wp)] - cp.p_pen[p, np.minimum(a, wp)]
                + cp.i_pen[i, np.minimum(b + d, wi)] - cp.i_pen[i, np.minimum(b, wi)])

    def book(self, cover_row: np.ndarray, p: int, day: int, d: int) -> None:
        c = cover_row[cover_row >= 0]
        self.free[c] -= 1
        self.pd_used[p, day] += d
        self.p_new[p] += d
        self.i_new[self.cp.p_inst[p]] += d

    def unbook(self, cover_row: np.ndarray, p: int, day: int, d: int) -> None:
        c = cover_row[cover_row >= 0]
        self.free[c] += 1
        self.pd_used[p, day] -= d
        self.p_new[p] -= d
        self.i_new[self.cp.p_inst[p]] -= d


def appointment_of(cp: CompiledProblem, request_id: str, s: int, d: int) -> Appointment:
    cov = cp.s_cover[s, :d]
    return Appointment(request_id=request_id, practitioner_id=cp.prac_ids[int(cp.s_prac[s])],
                       slot_ids=tuple(cp.slot_ids[int(c)] for c in cov),
                       start=cp.slots[int(s)].start)
