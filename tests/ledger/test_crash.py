"""SIGKILL a writer at arbitrary moments: no acknowledged write may be lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import ids
from ledger.client import LedgerClient
from ledger.merkle import MerkleLog

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(state: Path, start: int, acks_before_kill: int, rng: random.Random):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger._writer", str(state), str(start)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        records = 0
        while records < acks_before_kill:
            line = proc.stdout.readline().strip()
            assert line, "writer died"
            acked.append(line)
            records += line.startswith("R ")
        time.sleep(rng.uniform(0, 0.04))  # land anywhere: between or inside a write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # lines the writer acknowledged before dying are acknowledged too
        acked += [x.strip() for x in proc.stdout.read().splitlines() if x.strip()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return acked


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_write(tmp_path):
    state = tmp_path / "ledger"
    rng = random.Random(7)
    acked: list[str] = []
    start = 0
    for acks in (8, 6, 6):
        acked += _run_and_kill(state, start, acks, rng)
        start = 1000 * (len(acked) + 1)  # fresh record ids for the next life
    records = [int(x.split()[1]) for x in acked if x.startswith("R ")]
    grants = [int(x.split()[1]) for x in acked if x.startswith("G ")]
    log_max = max(int(x.split()[1]) for x in acked if x.startswith("L "))
    assert len(records) >= 20 and grants

    client = LedgerClient.open(state)
    try:
        for i in records:
            rid = f"Observation/{i}"
            entry = client.get_record("H02", rid)
            assert entry is not None, f"acknowledged record {rid} lost"
            assert entry.sha256 == ids.sha256(rid.encode())
            assert client.index.record(ids.record_key("H02", rid)) is not None  # re-indexed
            if i in grants:
                assert client.can_read(
                    holder="H02", record_id=rid, reader="H03", role="physician"
                ), f"acknowledged grant {i} lost"
        assert client.contract.functions.record_count().call() == client.index.record_count()
    finally:
        client.close()
    log = MerkleLog(state / "access_log.sqlite")
    assert log.size >= log_max + 1
    assert [i for i, _ in log.iter_entries()] == list(range(log.size))
    log.close()
