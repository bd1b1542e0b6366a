"""Materialisation in bounded windows (how `large` stays under its memory bound) leaves the
online store exactly as one window does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.store import _window_bounds
from tests.featurestore.conftest import fresh_settings


def test_window_bounds_split_by_rows_and_keep_equal_times_together() -> None:
    ts = pd.Series(pd.to_datetime(["2026-01-01"] * 3 + ["2026-01-02"] * 3 + ["2026-01-03"] * 4,
                                  utc=True))
    assert _window_bounds(ts, 20) == []
    bounds = _window_bounds(ts, 3)
    assert [b.day for b in bounds] == [2, 3]  # distinct times, later than the first


@pytest.mark.slow
def test_chunked_materialisation_equals_one_window(sqlite_online, offline_tables: Path,
                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from features.feature_repo.definitions import patient_profile_fv
    from features.store import apply, materialize, open_store

    settings = fresh_settings(offline_tables, tmp_path, materialize_chunk_rows=1000)
    apply(settings)
    rows = materialize(settings)
    patients = pd.read_parquet(settings.offline_dir / "patients.parquet",
                               columns=["patient_id"])["patient_id"].drop_duplicates()
    assert rows > 2000  # more than one window's worth in the patient view alone
    ids = sorted(patients)[:300]
    refs = [f"{patient_profile_fv.name}:{f.name}" for f in patient_profile_fv.features]

    def read(store) -> dict:  # type: ignore[no-untyped-def]
        return store.get_online_features(features=refs,
                                         entity_rows=[{"patient_id": p} for p in ids]).to_dict()

    assert read(open_store(settings)) == read(sqlite_online.store)
