"""`regioncare bench features` runs end to end in quick mode and reports the contract keys."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_quick_bench_reports_the_contract_keys(sqlite_online) -> None:  # type: ignore[no-untyped-def]
    from benchmarks.features import run

    settings = sqlite_online.settings
    redis = os.environ.get("REGIONCARE_TEST_REDIS_URL", "").strip()
    if redis:
        settings = settings.model_copy(update={"redis_url": redis})
    result = run(settings, quick=True, start_redis=False)
    for key in ("online_p99_ms_sqlite", "online_p99_ms_redis", "candidate_cache_p99_ms",
                "push_visible_s", "sqlite_redis_p99_ratio"):
        assert key in result
    # The bars (2 s, 2 ms, 10 ms) are read from the figures, not asserted on a shared CI box.
    for key in ("push_visible_s", "candidate_cache_p99_ms", "online_p50_ms_sqlite",
                "online_p99_ms_sqlite"):
        assert isinstance(result[key], float) and 0 < result[key] < 1000, (key, result[key])
    assert result["online_p50_ms_sqlite"] <= result["online_p99_ms_sqlite"]
    if redis:
        assert result["online_p99_ms_redis"] is not None and result["sqlite_redis_p99_ratio"]
