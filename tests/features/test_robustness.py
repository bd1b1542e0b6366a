"""Malformed input through the CLI (quarantine, exit status, no traceback) and an ingest
killed with SIGKILL, then re-run, ending in the state of an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from features.ingest import ingest
from features.records import RecordStore, list_stores

from .conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIONCARE_")}
    env.update(REGIONCARE_HOME=str(home), REGIONCARE_PSEUDONYM_KEY="test-pseudonym-key",
               REGIONCARE_ENVIRONMENT="test")
    return subprocess.run([sys.executable, "-m", "regioncare.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _malformed(tmp_path: Path) -> dict[str, Path]:
    fhir = tmp_path / "fhir"
    fhir.mkdir()
    (fhir / "truncated.json").write_text('{"resourceType": "Bundle", "entry": [{"res',
                                         encoding="utf-8")
    (fhir / "garbage.json").write_bytes(os.urandom(2048) + b"\x00\xff")
    (fhir / "empty.json").write_bytes(b"")
    (fhir / "gbk.json").write_bytes(json.dumps(
        {"resourceType": "Patient", "id": "1", "name": [{"text": "王伟"}]},
        ensure_ascii=False).encode("gbk"))
    (fhir / "bulk.ndjson").write_bytes(b'{"resourceType": "Patient", "id"\n\xff\xfe\n')
    hl7 = tmp_path / "hl7"
    hl7.mkdir()
    (hl7 / "broken.hl7").write_text(
        "MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A04|B1|P|2.5\rEVN|A04\r"
        "MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A04|B2|P|2.5\rPID|1||M2^^^X^MR||A^B||2099134|F\r"
        "MSH|^~\\&|HIS|X|RC|R|2026\r", encoding="utf-8")
    (hl7 / "empty.hl7").write_bytes(b"")
    (hl7 / "garbage.hl7").write_bytes(bytes(range(256)) * 8)
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "mapping.json").write_text(json.dumps({
        "encoding": "utf-8", "files": {"patients": {"file": "patients.csv"}},
        "code_maps": {"gender": {"男": "male"}}}), encoding="utf-8")
    (csv / "patients.csv").write_bytes("local_id,name,gender,birth_date\n1,王伟,男,1980-01-01\n"
                                       .encode("gb18030"))  # declared UTF-8, is GB18030
    return {"fhir": fhir, "hl7": hl7, "csv": csv}


def test_malformed_files_quarantined_exit_1_no_traceback(tmp_path):
    dirs = _malformed(tmp_path)
    home = tmp_path / "home"
    expected = {"fhir": {"truncated.json": "invalid JSON", "garbage.json": "not UTF-8",
                         "empty.json": "empty file", "gbk.json": "not UTF-8",
                         "bulk.ndjson": "not UTF-8"},
                "hl7": {"broken.hl7": "", "empty.hl7": "empty file", "garbage.hl7": ""},
                "csv": {"patients.csv": "cannot decode"}}
    proc = _cli(["ingest", *(str(d) for d in dirs.values()), "--institution", "BAD-1",
                 "--json"], home)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["accepted"] == 0
    assert out["rejected"] >= sum(len(v) for v in expected.values())
    got: dict[str, list[str]] = {}
    for r in out["rejects"]:
        got.setdefault(Path(r["source"]).name, []).append(r["reason"])
        assert r["reason"] and r["position"]
    for kind in expected:
        for name, reason in expected[kind].items():
            assert name in got, (kind, name, got)
            assert any(reason in x for x in got[name]), (name, got[name])
    lines = Path(out["quarantine"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == out["rejected"]
    # unreadable input: exit 2, one line on stderr
    proc = _cli(["ingest", str(tmp_path / "missing"), "--institution", "BAD-1", "--json"],
                home)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _state(settings) -> dict:
    out = {}
    for inst, path in list_stores(settings.records_dir):
        with RecordStore(path) as st:
            out[inst] = hashlib.sha256("".join(
                f"{r}:{hashlib.sha256(b).hexdigest()}" for r, _, b in st.iter_records()
            ).encode()).hexdigest()
    for sub in (settings.offline_dir, settings.quarantine_dir, settings.home / "quality",
                settings.records_dir / "_mpi"):
        for p in sorted(Path(sub).glob("*")):
            out[f"{sub.name}/{p.name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_sigkill_mid_ingest_then_rerun_equals_uninterrupted(region, ingested, tmp_path):
    out, _ = region
    reference, _ = ingested
    settings = make_settings(tmp_path / "home")
    code = ("import sys; from pathlib import Path; from features.ingest import ingest; "
            "from regioncare.settings import Settings; "
            "ingest([Path(sys.argv[1])], settings=Settings(home=Path(sys.argv[2]), "
            "pseudonym_key='test-pseudonym-key', environment='test'))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(settings.home)],
                            cwd=ROOT)
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list_stores(settings.records_dir)) >= 4:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed and proc.returncode == -signal.SIGKILL
    assert not (settings.offline_dir / "referrals.parquet").exists()  # it was mid-way
    ingest([out], settings=settings)
    assert _state(settings) == _state(reference)
