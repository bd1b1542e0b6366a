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

from features.store import historical_features
from models.referral.encoding import CANDIDATE_COLUMNS, CandidateTable
from regioncare.settings import Settings

SERVICE = "referral_matching_v1"
PATIENT_VIEW = "patient_profile_fv"
PRACTITIONER_VIEW = "practitioner_profile_fv"
NON_CANDIDATE_SPECIALTIES = ("general_practice",)


@dataclass
class ReferralSet:
    """Referrals with their patient features and the candidate table of their month."""

    referrals: pd.DataFrame  # one row per referral, patient features joined
    months: dict[pd.Timestamp, CandidateTable]  # candidate features as of each month start
    candidate_ids: np.ndarray  # the candidate universe, fixed order
    rows_without_features: dict[str, int] = field(default_factory=dict)
    decision_counts: dict[str, int] = field(default_factory=dict)  # API decisions used

    def target_index(self) -> np.ndarray:
        pos = {pid: i for i, pid in enumerate(self.candidate_ids)}
        return np.asarray([pos.get(t, -1) for t in self.referrals["target_practitioner_id"]])

    def patient(self, i: int) -> dict[str, Any]:
        return self.referrals.iloc[i].to_dict()

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


def build_set(store: Any, settings: Settings, referrals: pd.DataFrame,
              candidate_ids: np.ndarray) -> ReferralSet:
    referrals = referrals.copy()
    referrals["month"] = month_start(referrals["event_timestamp"])
    patients = historical_features(store, SERVICE, PATIENT_VIEW, referrals[
        ["patient_id", "event_timestamp"]], join_key="patient_id")
    joined = pd.concat([referrals, patients.frame], axis=1)

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
    missing = {**patients.rows_without_features, **prac.rows_without_features}
    return ReferralSet(joined.reset_index(drop=True), tables, candidate_ids, missing)


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
