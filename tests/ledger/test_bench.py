"""The ledger benchmark runs end to end in quick mode and reports its figures and sizes."""

from __future__ import annotations

import pytest

from benchmarks.ledger import QUICK, run
from regioncare.settings import Settings


@pytest.mark.slow
def test_quick_bench(tmp_path):
    result = run(Settings(home=tmp_path), quick=True)
    for key in ("register_tx_per_s", "log_appends_per_s", "proof_p99_ms_1m", "verify_100k_s"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["sizes"] == QUICK and result["quick"] is True
    assert not any((tmp_path / "bench").iterdir())  # scratch removed
