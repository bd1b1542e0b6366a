"""verify: one flipped byte is named for its record alone; a tampered log is caught."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ledger import ids
from ledger.cli import app
from ledger.client import RecordIn
from ledger.service import open_ledger
from ledger.stores import store_lister
from ledger.verify import verify
from regioncare.errors import CheckFailed, UserError
from regioncare.settings import Settings

from .conftest import INSTITUTIONS, pseudo, write_store

ROOT = Path(__file__).resolve().parents[2]


def _body(holder: str, i: int) -> bytes:
    return json.dumps(
        {
            "resourceType": "Observation",
            "id": f"{holder}-{i}",
            "valueQuantity": {"value": i * 1.5, "unit": "mmol/L"},
        }
    ).encode()


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """Three institutions' stores, every record registered, 40 reads logged and anchored."""
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home)
    ledger = open_ledger(settings, anchor_every=10, durable=False)
    client = ledger.client
    for code in INSTITUTIONS:
        client.add_institution(code)
    for h, holder in enumerate(INSTITUTIONS):
        rows = [(f"Observation/{i}", "Observation", _body(holder, i)) for i in range(30)]
        write_store(settings.records_dir, holder, rows)
        client.register_records(
            holder,
            [
                RecordIn(rid, pseudo(f"p{(i + h) % 7}"), ids.sha256(body), rtype, i % 3)
                for i, (rid, rtype, body) in enumerate(rows)
            ],
        )
    for i in range(40):
        key = ids.record_key("H01", f"Observation/{i % 30}")
        ledger.log.record(
            reader="H02",
            role="physician",
            record_key=key,
            allowed=i % 4 != 0,
            purpose="referral",
            at=1_767_225_600 + i,
        )
    assert ledger.log.anchored_size == 40
    ledger.close()
    return settings


def _verify(settings: Settings):
    with open_ledger(settings, read_only=True) as ledger:
        return verify(
            ledger.client,
            list_records=store_lister(settings.records_dir),
            log=ledger.log.tree,
            chain_sample=None,
        )


def _set_body(settings: Settings, holder: str, record_id: str, body: bytes | None) -> None:
    conn = sqlite3.connect(settings.records_dir / holder / "records.sqlite")
    if body is None:
        conn.execute("DELETE FROM records WHERE record_id=?", (record_id,))
    else:
        conn.execute(
            "INSERT OR REPLACE INTO records VALUES (?, 'Observation', ?)", (record_id, body)
        )
    conn.commit()
    conn.close()


def test_clean_region_verifies(region):
    report = _verify(region)
    assert report.ok, report
    assert report.records_checked == 90 and report.chain_checked == 90
    assert report.log_size == 40 and report.anchors_checked == 4


@pytest.mark.parametrize(
    ("holder", "i", "pos"), [("H01", 0, 0), ("H02", 17, 5), ("H03", 29, -1), ("H02", 3, 40)]
)
def test_one_flipped_byte_is_reported_for_that_record_only(region, holder, i, pos):
    rid = f"Observation/{i}"
    good = _body(holder, i)
    bad = bytearray(good)
    bad[pos] ^= 0x01
    _set_body(region, holder, rid, bytes(bad))
    try:
        report = _verify(region)
    finally:
        _set_body(region, holder, rid, good)
    assert [(m["holder"], m["record_id"]) for m in report.mismatches] == [(holder, rid)]
    assert "sha256" in report.mismatches[0]["reason"]
    assert report.log_consistent


def test_every_single_byte_flip_in_one_record_is_caught(region):
    """Exhaustively, for one record: each byte position, through the fetch path."""
    body = _body("H02", 5)
    with open_ledger(region, read_only=True) as ledger:
        for pos in range(len(body)):
            bad = bytearray(body)
            bad[pos] ^= 0xFF

            def fetch(holder, record_id, bad=bytes(bad)):
                if (holder, record_id) == ("H02", "Observation/5"):
                    return bad
                return _body(holder, int(record_id.split("/")[1]))

            report = verify(ledger.client, fetch=fetch, chain_sample=0)
            assert [m["record_id"] for m in report.mismatches] == ["Observation/5"], pos
            assert report.mismatches[0]["holder"] == "H02"


def test_missing_record_is_reported(region):
    _set_body(region, "H03", "Observation/2", None)
    try:
        report = _verify(region)
    finally:
        _set_body(region, "H03", "Observation/2", _body("H03", 2))
    assert report.mismatches == [
        {"record_id": "Observation/2", "holder": "H03", "reason": "missing at holder"}
    ]


def _tamper_log(settings: Settings, sql: list[str], name: str = "access_log.sqlite"):
    path = settings.home / "ledger" / name
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = path.read_bytes()
    for stmt in sql:
        conn.execute(stmt)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    try:
        return _verify(settings)
    finally:
        path.write_bytes(backup)


@pytest.mark.parametrize(
    "sql",
    [
        ["DELETE FROM entries WHERE idx=7"],  # delete
        [
            "DELETE FROM entries WHERE idx=7",  # delete + renumber
            "UPDATE entries SET idx=idx-1 WHERE idx>7",
        ],
        [
            "UPDATE entries SET idx=-1 WHERE idx=3",
            "UPDATE entries SET idx=3 WHERE idx=4",
            "UPDATE entries SET idx=4 WHERE idx=-1",
        ],  # reorder
        ["DELETE FROM entries WHERE idx>=35"],  # truncate
        ["DELETE FROM entries WHERE idx=39"],  # drop the last
        [
            "UPDATE entries SET data=CAST(replace(CAST(data AS TEXT), '\"allowed\":false',"
            " '\"allowed\":true') AS BLOB) WHERE idx=12"
        ],  # denial -> allow
    ],
)
def test_log_tampering_is_reported(region, sql):
    report = _tamper_log(region, sql)
    assert not report.log_consistent and report.log_problems
    assert not report.mismatches  # the records themselves are fine


def _cli(args: list[str], settings: Settings, capsys) -> tuple[int, str, str]:
    """Invoke like the shared CLI does: CheckFailed -> 1, UserError -> 2."""
    try:
        app(args, standalone_mode=False, obj=settings)
        code = 0
    except CheckFailed:
        code = 1
    except UserError:
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes_and_json(region, tmp_path: Path, capsys):
    code, out, _ = _cli(["verify", "--json"], region, capsys)
    assert code == 0
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["records_checked"] == 90 and doc["mismatches"] == [] and doc["log_consistent"]
    _set_body(region, "H01", "Observation/4", b"{}")
    try:
        bad = _cli(["verify", "--json"], region, capsys)
        human = _cli(["verify"], region, capsys)
    finally:
        _set_body(region, "H01", "Observation/4", _body("H01", 4))
    assert bad[0] == 1
    doc = json.loads(bad[1].strip().splitlines()[-1])
    assert [m["record_id"] for m in doc["mismatches"]] == ["Observation/4"]
    assert human[0] == 1 and "Observation/4" in human[1]
    missing = _cli(["verify", "--json", "--records-dir", str(tmp_path / "nope")], region, capsys)
    assert missing[0] == 2
    assert _cli(["verify", "--json"], Settings(home=tmp_path), capsys)[0] == 2


@pytest.mark.slow
def test_regioncare_ledger_verify_entry_point(region):
    """Through the shared CLI's main(), in a fresh process, as a user runs it."""
    env = {**os.environ, "REGIONCARE_HOME": str(region.home), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from regioncare.cli import main; main()", "ledger", "verify"]
    ok = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["records_checked"] == 90
    _set_body(region, "H02", "Observation/8", b"tampered")
    try:
        bad = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    finally:
        _set_body(region, "H02", "Observation/8", _body("H02", 8))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    doc = json.loads(bad.stdout.strip().splitlines()[-1])
    assert doc["mismatches"][0]["record_id"] == "Observation/8"
    env["REGIONCARE_HOME"] = str(region.home / "nowhere")
    none = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert none.returncode == 2 and "Traceback" not in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1


def test_tampered_index_is_caught_by_the_chain(region):
    """Someone edits a record AND our event index to match: the chain's digest disagrees."""
    rid, holder = "Observation/11", "H02"
    forged = b'{"forged": true}'
    key = ids.record_key(holder, rid).hex()
    sha = ids.sha256(forged).hex()
    _set_body(region, holder, rid, forged)
    try:
        both = _tamper_log(
            region,
            [
                f"UPDATE records SET sha256=x'{sha}' WHERE record_key=x'{key}'",
                f"UPDATE record_versions SET sha256=x'{sha}' WHERE record_key=x'{key}'",
            ],
            name="events.sqlite",
        )
        one = _tamper_log(
            region,
            [f"UPDATE records SET sha256=x'{sha}' WHERE record_key=x'{key}'"],
            name="events.sqlite",
        )
    finally:
        _set_body(region, holder, rid, _body(holder, 11))
    assert any("differ from the chain" in m["reason"] for m in both.mismatches)
    assert one.mismatches == [
        {"record_id": rid, "holder": holder, "reason": "index differs from the chain"}
    ]
    assert _verify(region).ok
