from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from ledger.client import LedgerClient

INSTITUTIONS = ("H01", "H02", "H03")


def pseudo(name: str) -> bytes:
    """A stand-in for the platform's keyed pseudonym."""
    return hashlib.sha256(b"test-pseudonym-key/" + name.encode()).digest()


def write_store(records_dir: Path, holder: str, rows: list[tuple[str, str, bytes]]) -> Path:
    path = records_dir / holder / "records.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS records "
        "(record_id TEXT PRIMARY KEY, resource_type TEXT, body BLOB)"
    )
    conn.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?)", rows)
    conn.commit()
    conn.close()
    return path


def open_client(state: Path) -> LedgerClient:
    client = LedgerClient.open(state, durable=False)
    for code in INSTITUTIONS:
        client.add_institution(code)
    return client


@pytest.fixture
def client(tmp_path: Path):
    c = open_client(tmp_path / "ledger")
    yield c
    c.close()
