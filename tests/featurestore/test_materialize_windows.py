"""Materialisation in bounded batches (how `large` stays under its memory bound) leaves the
online store as Feast's own one-window materialisation does."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.featurestore.conftest import fresh_settings


@pytest.mark.slow
def test_batched_materialisation_equals_feasts_own(sqlite_online, offline_tables: Path,
                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from features.store import apply, materialize, open_store

    ours = fresh_settings(offline_tables, tmp_path / "ours", materialize_chunk_rows=1000)
    apply(ours)
    rows = materialize(ours)
    assert rows > 2000  # more than one batch's worth
    theirs = fresh_settings(offline_tables, tmp_path / "feast")
    apply(theirs)
    store = open_store(theirs)
    with contextlib.redirect_stdout(sys.stderr):
        store.materialize(start_date=datetime(2000, 1, 1, tzinfo=UTC),
                          end_date=datetime.now(UTC))
    for fv in store.list_feature_views():
        key = fv.entity_columns[0].name
        ids = pd.read_parquet(ours.feast_dir / fv.batch_source.path,
                              columns=[key])[key].drop_duplicates().sort_values()[:300]
        refs = [f"{fv.name}:{f.name}" for f in fv.features]
        rows_ = [{key: i} for i in ids]
        mine = open_store(ours).get_online_features(features=refs, entity_rows=rows_).to_dict()
        want = store.get_online_features(features=refs, entity_rows=rows_).to_dict()
        assert mine == want, fv.name
