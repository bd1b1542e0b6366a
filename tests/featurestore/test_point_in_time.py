"""Training sets are point-in-time correct and lose no row silently.

Rows dated after each label's event time are planted in the offline tables with values
that cannot occur (sentinels); the training-set builder must never return them, and must
return exactly what an as-of join (latest row at or before the label time) gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.featurestore.conftest import fresh_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Planted rows carry values that cannot occur and that say which planted row they are:
# comorbidity_index = PATIENT_BASE + j (real values stay below ~30) and acceptance_rate =
# -(j + 1) (real rates lie in [0, 1]). A planted row may legitimately be used by a *later*
# label of the same entity; the tests check each use against the planted row's own time.
PATIENT_BASE = 100_000


@pytest.fixture(scope="module")
def planted(offline_tables: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A repo whose offline tables carry rows right after every label time."""
    from features.store import apply, open_store
    from training.referral_data import load_referrals, month_start

    settings = fresh_settings(offline_tables, tmp_path_factory.mktemp("fs-pit"))
    referrals = load_referrals(settings).head(400)

    patients = pd.read_parquet(settings.offline_dir / "patients.parquet")
    template = patients.drop_duplicates("patient_id").set_index("patient_id")
    leaks = []
    # Off the real rows' grid (they sit at whole seconds): no ties for the reference join.
    for delta in (pd.Timedelta(microseconds=1), pd.Timedelta(milliseconds=1500),
                  pd.Timedelta(days=30, microseconds=7)):
        rows = template.loc[referrals["patient_id"]].reset_index()
        rows["event_timestamp"] = referrals["event_timestamp"].to_numpy() + delta
        leaks.append(rows)
    p_leaks = pd.concat(leaks, ignore_index=True)
    p_leaks["comorbidity_index"] = PATIENT_BASE + np.arange(len(p_leaks))
    planted_patients = pd.concat([patients, p_leaks], ignore_index=True)
    planted_patients.to_parquet(settings.offline_dir / "patients.parquet", index=False)

    prac = pd.read_parquet(settings.offline_dir / "practitioners.parquet")
    months = sorted(month_start(referrals["event_timestamp"]).unique())
    base = prac.drop_duplicates("practitioner_id")
    q_leaks = pd.concat([base.assign(event_timestamp=pd.Timestamp(m) + delta)
                         for m in months
                         for delta in (pd.Timedelta(microseconds=1), pd.Timedelta(days=3))],
                        ignore_index=True)
    q_leaks["acceptance_rate"] = -(np.arange(len(q_leaks)) + 1.0)
    pd.concat([prac, q_leaks], ignore_index=True).to_parquet(
        settings.offline_dir / "practitioners.parquet", index=False)
    apply(settings)
    return settings, open_store(settings), referrals, planted_patients, p_leaks, q_leaks


def _as_of(features: pd.DataFrame, keys: pd.DataFrame, key: str, column: str) -> np.ndarray:
    """Reference as-of join in pandas: the latest row at or before each key's time."""
    left = keys.reset_index().sort_values("event_timestamp")
    right = features[[key, "event_timestamp", column]].sort_values("event_timestamp")
    joined = pd.merge_asof(left, right, on="event_timestamp", by=key, direction="backward",
                           allow_exact_matches=True)
    return joined.set_index("index").sort_index()[column].to_numpy()


def test_no_feature_value_after_the_label_time_leaks(planted) -> None:  # type: ignore[no-untyped-def]
    from training.referral_data import build_set, candidate_universe, load_referrals

    settings, store, referrals, patients, p_leaks, q_leaks = planted
    result = build_set(store, referrals, candidate_universe(settings),
                       history=load_referrals(settings))

    # Patients: every planted value used is dated at or before that referral's time.
    got = result.referrals["comorbidity_index"].to_numpy()
    assert len(got) == len(referrals)
    labels = referrals["event_timestamp"].to_numpy()
    hits = np.flatnonzero(got >= PATIENT_BASE)
    used_at = p_leaks["event_timestamp"].to_numpy()[got[hits] - PATIENT_BASE]
    assert (used_at <= labels[hits]).all(), "a patient row dated after the label leaked"
    # ... and the whole column is exactly the as-of join (latest row at or before).
    expected = _as_of(patients, referrals[["patient_id", "event_timestamp"]], "patient_id",
                      "comorbidity_index")
    np.testing.assert_array_equal(got.astype(float), expected.astype(float))
    # Each referral's own planted rows (at its time + 1 us, + 1.5 s, + 30 d) are never used:
    # planted row j belongs to referral j mod n.
    n = len(referrals)
    assert ((got[hits] - PATIENT_BASE) % n != hits).all()
    assert 0 < len(hits) < n // 2  # planted rows are visible to the join, and rare

    # Practitioners: candidate tables as of each month start never use a later row.
    for month, table in result.months.items():
        rates = table.columns["acceptance_rate"]
        planted_idx = (-rates[rates < 0] - 1).round().astype(int)
        when = q_leaks["event_timestamp"].to_numpy()[planted_idx]
        assert (when <= np.datetime64(pd.Timestamp(month).tz_convert(None))).all(), month
    first = min(result.months)
    assert (result.months[first].columns["acceptance_rate"] >= 0).all()


def test_no_training_row_disappears_silently(planted) -> None:  # type: ignore[no-untyped-def]
    from features.store import historical_features

    settings, store, referrals = planted[:3]
    first_seen = (pd.read_parquet(settings.offline_dir / "patients.parquet")
                  .groupby("patient_id")["event_timestamp"].min())
    known = referrals["patient_id"].iloc[0]
    entity = pd.DataFrame({
        "patient_id": [known, known, "p_nobody_at_all", referrals["patient_id"].iloc[1]],
        "event_timestamp": [first_seen[known] - pd.Timedelta(days=365),  # before any row
                            referrals["event_timestamp"].iloc[0],
                            referrals["event_timestamp"].iloc[0],  # unknown patient
                            referrals["event_timestamp"].iloc[1]],
    }, index=[10, 11, 12, 13])
    out = historical_features(store, "referral_matching_v1", "patient_profile_fv", entity,
                              join_key="patient_id")
    assert list(out.frame.index) == [10, 11, 12, 13]  # same rows, same order
    assert out.frame.loc[[10, 12]].isna().all(axis=None)  # came back as nulls
    assert out.frame.loc[[11, 13], "age_years"].notna().all()
    assert out.rows_without_features == {"patient_profile_fv": 2}  # and were counted
