"""Ray's memory as the bench measures it: shared pages count once in the resident total."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmarks.recommend import ray_memory_mb


@pytest.mark.skipif(os.geteuid() != 0, reason="physical frame numbers need root")
def test_resident_total_counts_shared_pages_once() -> None:
    code = "import numpy, time; a = numpy.ones(10_000_000); time.sleep(60)"  # 80 MB private
    children = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        import time

        time.sleep(3)
        mem = ray_memory_mb()
    finally:
        for child in children:
            child.kill()
            child.wait()
    # Two interpreters share their libraries' pages: the sum of RSS counts them twice.
    assert mem["ray_resident_mb"] is not None
    assert 0 < mem["ray_resident_mb"] < mem["ray_rss_mb"]
    assert mem["ray_resident_mb"] >= mem["ray_rss_mb"] / 2
