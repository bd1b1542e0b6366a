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
    assert result["push_visible_s"] <= 2.0
    assert result["candidate_cache_p99_ms"] <= 2.0
    assert result["online_p50_ms_sqlite"] <= 5.0  # p99 is the bar; p50 is robust on CI
    if redis:
        assert result["online_p99_ms_redis"] is not None and result["sqlite_redis_p99_ratio"]
