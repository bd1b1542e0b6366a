"""Point-in-time training and evaluation sets for referral matching, read through Feast.

Labels come from the referral table (who the referral went to and how it ended); every
feature comes from the ``referral_matching_v1`` feature service as of the referral's time:
patient rows at the referral's own timestamp, practitioner rows as of the start of the
referral's month (rounding down never looks ahead, and it lets one month's candidate table
serve every referral of that month).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.offline import ACCEPTED_STATUSES, MAX_SEEN
from features.store import historical_features
from models.referral.encoding import (
    CANDIDATE_COLUMNS,
    CandidateTable,
    EncodedBatch,
    FeatureSpec,
    candidate_arrays,
    encode_arrays,
    query_arrays,
)
from regioncare.settings import Settings

SERVICE = "referral_matching_v1"
PATIENT_VIEW = "patient_profile_fv"
PRACTITIONER_VIEW = "practitioner_profile_fv"
NON_CANDIDATE_SPECIALTIES = ("general_practice",)
# Feast's file offline store holds several copies of the entity rows during a join: on
# `large` (1.13M referrals) one call peaked at 8.7 GB RSS in 61 s; 300k-row calls peaked at
# 5.3 GB in 104 s (measured), inside the 15-minute training budget.
PATIENT_JOIN_ROWS = 300_000


@dataclass
class ReferralSet:
    """Referrals with their patient features and the candidate table of their month."""

    referrals: pd.DataFrame  # one row per referral, patient features joined
    months: dict[pd.Timestamp, CandidateTable]  # candidate features as of each month start
    candidate_ids: np.ndarray  # the candidate universe, fixed order
    rows_without_features: dict[str, int] = field(default_factory=dict)
    decision_counts: dict[str, int] = field(default_factory=dict)  # API decisions used
    # [n_referrals, MAX_SEEN] positions in candidate_ids of the specialists who accepted the
    # patient's earlier referrals before this one was made (-1 pads).
    seen: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.int64))

    def target_index(self) -> np.ndarray:
        pos = {pid: i for i, pid in enumerate(self.candidate_ids)}
        return np.asarray([pos.get(t, -1) for t in self.referrals["target_practitioner_id"]])

    def patient(self, i: int) -> dict[str, Any]:
        row = self.referrals.iloc[i].to_dict()
        row["seen_practitioners"] = [str(self.candidate_ids[k]) for k in self.seen[i] if k >= 0]
        return row

    def request(self, i: int) -> dict[str, Any]:
        row = self.referrals.iloc[i]
        return {"diagnosis_code": row["diagnosis_code"], "urgency": row["urgency"],
                "origin_tier": row["origin_tier"]}

    def candidates(self, i: int) -> CandidateTable:
        return self.months[self.referrals["month"].iloc[i]]


def load_referrals(settings: Settings) -> pd.DataFrame:
    frame = pd.read_parquet(settings.offline_dir / "referrals.parquet")
    return frame.sort_values(["event_timestamp", "referral_id"]).reset_index(drop=True)


def candidate_universe(settings: Settings) -> np.ndarray:
    """Every practitioner who takes referrals (specialists), in a fixed order."""
    prac = pd.read_parquet(settings.offline_dir / "practitioners.parquet",
                           columns=["practitioner_id", "specialty"])
    ids = prac.loc[~prac["specialty"].isin(NON_CANDIDATE_SPECIALTIES), "practitioner_id"]
    return np.asarray(sorted(ids.unique()))


def month_start(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M").dt.to_timestamp() \
        .dt.tz_localize("UTC")


def build_set(store: Any, referrals: pd.DataFrame, candidate_ids: np.ndarray, *,
              history: pd.DataFrame) -> ReferralSet:
    """``history``: every referral of the region (all statuses), for the continuity
    feature."""
    referrals = referrals.copy()
    referrals["month"] = month_start(referrals["event_timestamp"])
    frames, dropped = [], {PATIENT_VIEW: 0}
    for start in range(0, max(1, len(referrals)), PATIENT_JOIN_ROWS):  # once if empty
        part = historical_features(store, SERVICE, PATIENT_VIEW, referrals.iloc[
            start:start + PATIENT_JOIN_ROWS][["patient_id", "event_timestamp"]],
            join_key="patient_id")
        frames.append(part.frame)
        dropped[PATIENT_VIEW] += part.rows_without_features.get(PATIENT_VIEW, 0)
    joined = pd.concat([referrals, pd.concat(frames)], axis=1)
    del frames
    seen = seen_before(referrals, history, candidate_ids)

    months = sorted(referrals["month"].unique())
    grid = pd.DataFrame(
        [(pid, m) for m in months for pid in candidate_ids],
        columns=["practitioner_id", "event_timestamp"],
    )
    prac = historical_features(store, SERVICE, PRACTITIONER_VIEW, grid,
                               join_key="practitioner_id")
    table = pd.concat([grid, prac.frame], axis=1)
    tables = {}
    for m, part in table.groupby("event_timestamp", sort=True):
        tables[pd.Timestamp(m)] = candidate_table(part, at=pd.Timestamp(m))
    missing = {**dropped, **prac.rows_without_features}
    return ReferralSet(joined.reset_index(drop=True), tables, candidate_ids, missing, seen=seen)


def seen_before(referrals: pd.DataFrame, history: pd.DataFrame, candidate_ids: np.ndarray
                ) -> np.ndarray:
    """Continuity of care, point in time: for each referral, the candidates who accepted an
    earlier referral of the same patient, decided before this one was made (most recent
    first, at most MAX_SEEN)."""
    out = np.full((len(referrals), MAX_SEEN), -1, dtype=np.int64)
    pos = pd.Series(np.arange(len(candidate_ids)), index=pd.Index(candidate_ids))
    acc = history[history["status"].isin(ACCEPTED_STATUSES)]
    acc = pd.DataFrame({"patient_id": acc["patient_id"].to_numpy(),
                        "seen": pos.reindex(acc["target_practitioner_id"]).to_numpy(),
                        "decided": acc["decision_timestamp"].to_numpy()}).dropna()
    if acc.empty or referrals.empty:
        return out
    q = pd.DataFrame({"row": np.arange(len(referrals)),
                      "patient_id": referrals["patient_id"].to_numpy(),
                      "at": referrals["event_timestamp"].to_numpy()})
    q = q[q["patient_id"].isin(acc["patient_id"])]
    pairs = q.merge(acc, on="patient_id")
    pairs = pairs[pairs["decided"] < pairs["at"]]
    pairs = pairs.sort_values(["row", "decided"], ascending=[True, False], kind="stable")
    pairs = pairs.drop_duplicates(["row", "seen"])
    slot = pairs.groupby("row", sort=False).cumcount().to_numpy()
    keep = slot < MAX_SEEN
    out[pairs["row"].to_numpy()[keep], slot[keep]] = pairs["seen"].to_numpy()[keep].astype(
        np.int64)
    return out


def candidate_table(frame: pd.DataFrame, *, at: pd.Timestamp) -> CandidateTable:
    """Practitioner feature rows -> the ranker's candidate columns (days to next slot)."""
    frame = frame.copy()
    nxt = pd.to_datetime(frame["next_free_slot"], utc=True, errors="coerce")
    frame["next_free_slot_days"] = (nxt - at).dt.total_seconds() / 86400.0
    rows = {name: frame[name].tolist() for name in CANDIDATE_COLUMNS}
    return CandidateTable.from_records(rows)


def time_split(referrals: pd.DataFrame, *, test_fraction: float = 0.2
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on the past, test on the most recent referrals: no shuffling across time."""
    cut = referrals["event_timestamp"].quantile(1 - test_fraction)
    return referrals[referrals["event_timestamp"] < cut], referrals[
        referrals["event_timestamp"] >= cut]


def good_referrals(referrals: pd.DataFrame) -> pd.DataFrame:
    """Referrals whose target was right: accepted, and not a poor outcome."""
    ok = referrals["status"].isin(["accepted", "completed"]) & (referrals["outcome"] != "poor")
    return referrals[ok]


@dataclass
class EncodedSet:
    """A referral set as column arrays, encoded once: batches are gathered from it."""

    spec: FeatureSpec
    query: dict[str, np.ndarray]  # [n_referrals] referral-side arrays
    month: np.ndarray  # [n_referrals] index into the month axis of ``cands``
    cands: dict[str, np.ndarray]  # [n_months, n_candidates(, 3)] candidate-side arrays
    seen: np.ndarray  # [n_referrals, MAX_SEEN]
    target: np.ndarray  # [n_referrals] position of the chosen candidate (-1: none)

    @property
    def n_candidates(self) -> int:
        return int(self.cands["tier"].shape[1])

    def batch(self, rows: np.ndarray, cand_idx: np.ndarray | None = None) -> EncodedBatch:
        """Referrals ``rows`` against candidates ``cand_idx`` [B, K] (default: all)."""
        rows = np.asarray(rows, dtype=np.int64)
        m = self.month[rows]
        if cand_idx is None:
            c = {k: v[m] for k, v in self.cands.items()}
            cand_pos = np.arange(self.n_candidates, dtype=np.int64)[None, :]
        else:
            c = {k: v[m[:, None], cand_idx] for k, v in self.cands.items()}
            cand_pos = cand_idx
        q = {k: v[rows] for k, v in self.query.items()}
        return encode_arrays(self.spec, q, c, self.seen[rows], cand_pos)


def encode_set(spec: FeatureSpec, data: ReferralSet, rows: np.ndarray | None = None
               ) -> EncodedSet:
    """Encode the referrals ``rows`` (default: all); the result is indexed 0..len(rows)-1."""
    rows = np.arange(len(data.referrals)) if rows is None else np.asarray(rows, np.int64)
    refs = data.referrals.iloc[rows]
    months = sorted(data.months)
    per_month = [candidate_arrays(spec, data.months[m]) for m in months]
    cands = {k: np.stack([a[k] for a in per_month]) for k in per_month[0]
             if k != "region_km"}
    month_of = {m: i for i, m in enumerate(months)}
    month = refs["month"].map(month_of).to_numpy(dtype=np.int64)
    query = query_arrays(spec, refs, refs, len(refs))
    return EncodedSet(spec, query, month, cands, data.seen[rows], data.target_index()[rows])
