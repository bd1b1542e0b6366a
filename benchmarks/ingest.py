"""Ingest benchmark (issue 3): throughput per format, peak memory, linking quality and a
plant-and-scan of identifiers.

``run(settings, quick=False)``:

1. synthesises a region (the ``small`` world with ``patients`` people: ~1M records in
   full mode, a few thousand in quick mode) and adds two sentinel institutions (FHIR and
   GB18030 HIS CSV) whose every identifying field (name, resident ID, MRN, insurance
   number, phone, address, free-text note) holds a unique sentinel value; some sentinel
   records are broken on purpose so that they land in the quarantine;
2. ingests all of it in a child process (``peak_rss_mb`` is that process's peak RSS),
   which also writes its log to ``<home>/logs/ingest.log``; FHIR and CSV records/s are
   adapter + record-store time per format (the MPI pass and the offline rebuild are
   timed separately and included in ``end_to_end_records_per_s``);
3. HL7 v2 messages/s: a file of generated ADT/ORU/ORM/REF/SIU messages through the HL7
   adapter and the record store;
4. ``link_precision`` / ``link_recall``: pairwise, against the planted truth;
5. ``sentinel_hits``: every file under the scratch home except the record stores (the
   hospitals' own identified data) - offline parquet (decoded values), quarantine,
   quality reports, logs, anything else the ingest wrote - is scanned for every sentinel
   (as UTF-8 and GB18030); must be 0. ``sentinels_in_record_stores`` shows the scan does
   find what was planted.

All of it happens under ``<home>/bench/ingest`` and is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

FULL = {"world": "small", "patients": 97_000, "sentinels": 200, "hl7_messages": 20_000}
QUICK = {"world": "tiny", "patients": 400, "sentinels": 20, "hl7_messages": 1_000}
AS_OF = date(2026, 11, 1)
SEED = 20261126


# ----------------------------------------------------------------------------- sentinels
def _rid(k: int) -> str:
    from features.synth.names import id_check_digit

    body = f"990{k % 1000:03d}19{40 + k % 50:02d}0{1 + k % 9}{10 + k % 18:02d}{k % 1000:03d}"
    return body + id_check_digit(body)


def sentinel_values(k: int) -> dict[str, str]:
    return {"name": f"哨兵名{k:05d}", "name_latin": f"SNTLNAME{k:05d}Q",
            "resident_id": _rid(k), "mrn": f"SNTLMRN{k:05d}Q",
            "insurance": f"SNTLINS{k:05d}Q", "phone": f"1990{k:07d}",
            "address": f"SNTLADDR{k:05d}号楼", "note": f"SNTLNOTE{k:05d}Q"}


def write_sentinel_exports(region: Path, n: int) -> list[str]:
    """Two sentinel institutions added to the region's manifest; returns the sentinels."""
    man = json.loads((region / "manifest.json").read_text(encoding="utf-8"))
    reg0 = man["regions"][0]["region"]
    planted: list[str] = []
    # FHIR: a transaction Bundle.
    entries = [{"resource": {"resourceType": "Organization", "id": "SN-F1",
                             "name": "哨兵医院", "address": [{"district": reg0}]}}]
    for k in range(n):
        v = sentinel_values(k)
        planted += list(v.values())
        pid = v["mrn"]
        entries.append({"resource": {
            "resourceType": "Patient", "id": pid,
            "identifier": [
                {"system": "urn:regioncare:mrn", "value": pid,
                 "type": {"coding": [{"code": "MR"}]}},
                {"system": "urn:oid:2.16.156.10011.1.1", "value": v["resident_id"],
                 "type": {"coding": [{"code": "NI"}]}},
                {"system": "urn:regioncare:insurance", "value": v["insurance"]}],
            "name": [{"text": v["name"] if k % 2 else v["name_latin"]}],
            "gender": "female" if k % 2 else "male",
            # every 10th Patient is broken (bad birth date): it goes to the quarantine
            "birthDate": "19x0-13-45" if k % 10 == 3 else f"19{40 + k % 50:02d}-0{1 + k % 9}-"
                                                          f"{10 + k % 18:02d}",
            "telecom": [{"system": "phone", "value": v["phone"]}],
            "address": [{"text": v["address"], "district": reg0}],
            "text": {"status": "generated", "div": f"<div>{v['note']}</div>"}}})
        entries.append({"resource": {
            "resourceType": "Condition", "id": f"SN-DX-{k}",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                 "code": "I10" if k % 7 else "NOTACODE"}]},
            "note": [{"text": v["note"] + v["name"]}],
            "onsetDateTime": "2025-03-01T08:00:00+08:00"}})
    fdir = region / "exports" / "SN-F1"
    fdir.mkdir(parents=True, exist_ok=True)
    (fdir / "bundle-0001.json").write_text(json.dumps(
        {"resourceType": "Bundle", "type": "transaction", "entry": entries},
        ensure_ascii=False), encoding="utf-8")
    # HIS CSV in GB18030 with Chinese headers.
    cdir = region / "exports" / "SN-C1"
    cdir.mkdir(parents=True, exist_ok=True)
    mapping = {"institution": "SN-C1", "encoding": "gb18030", "date_format": "%Y-%m-%d",
               "files": {"patients": {"file": "patients.csv", "columns": {
                   "病人ID": "local_id", "姓名": "name", "性别": "gender",
                   "出生日期": "birth_date", "身份证号": "resident_id", "联系电话": "phone",
                   "家庭住址": "address", "所属区域": "region", "医保号": "insurance",
                   "备注": "note"}}},
               "code_maps": {"gender": {"男": "male", "女": "female"}}}
    (cdir / "mapping.json").write_text(json.dumps(mapping, ensure_ascii=False),
                                       encoding="utf-8")
    lines = ["病人ID,姓名,性别,出生日期,身份证号,联系电话,家庭住址,所属区域,医保号,备注"]
    for k in range(n, 2 * n):
        v = sentinel_values(k)
        planted += list(v.values())
        sex = "男" if k % 2 else ("未知" if k % 10 == 4 else "女")  # bad code -> quarantine
        lines.append(f"{v['mrn']},{v['name']},{sex},19{40 + k % 50:02d}-0{1 + k % 9}-"
                     f"{10 + k % 18:02d},{v['resident_id']},{v['phone']},{v['address']},"
                     f"{reg0},{v['insurance']},{v['note']}")
    (cdir / "patients.csv").write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    man["exports"] += [{"institution": "SN-F1", "format": "fhir", "path": "exports/SN-F1"},
                       {"institution": "SN-C1", "format": "csv", "path": "exports/SN-C1"}]
    (region / "manifest.json").write_text(json.dumps(man, ensure_ascii=False, indent=1),
                                          encoding="utf-8")
    return planted


def _finder(sentinels: list[str]):
    """A one-pass search for many needles: find the occurrences of each needle's first
    three bytes, then look the candidates up by length (no per-needle scan of the blob)."""
    groups: dict[bytes, dict[int, dict[bytes, str]]] = {}
    for s in sentinels:
        if not s:
            continue
        for enc in ("utf-8", "gb18030"):
            b = s.encode(enc)
            groups.setdefault(b[:3], {}).setdefault(len(b), {})[b] = s

    def find(blob: bytes) -> set[str]:
        hits: set[str] = set()
        for marker, by_len in groups.items():
            i = blob.find(marker)
            while i >= 0:
                for n, table in by_len.items():
                    hit = table.get(blob[i:i + n])
                    if hit is not None:
                        hits.add(hit)
                i = blob.find(marker, i + 1)
        return hits

    return find


def scan(root: Path, sentinels: list[str], *, exclude: list[Path]) -> dict[str, Any]:
    """Sentinels found in any file under root (except ``exclude``): parquet values are
    decoded, other files are searched as bytes in UTF-8 and GB18030."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    find = _finder(sentinels)
    found: set[str] = set()
    where: dict[str, int] = {}
    files = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(x) for x in exclude):
            continue
        files += 1
        if path.suffix == ".parquet":
            t = pq.read_table(path)
            vals = list(t.column_names)
            for c in t.columns:
                u = pc.unique(c.combine_chunks())
                if not (pa.types.is_string(u.type) or pa.types.is_large_string(u.type)):
                    u = pc.cast(u, pa.string())
                vals += [x for x in u.to_pylist() if x is not None]
            blob = "\n".join(vals).encode("utf-8")
        else:
            blob = path.read_bytes()
        hits = find(blob)
        if hits:
            where[str(path.relative_to(root))] = len(hits)
            found |= hits
    return {"hits": len(found), "files_scanned": files, "where": where}


# ----------------------------------------------------------------------------- child
def _child(args: dict) -> dict:
    """Runs in a fresh process: the ingest itself (peak RSS is this process's)."""
    import logging
    import resource

    from features.ingest import ingest
    from regioncare.settings import Settings

    s = Settings(home=Path(args["home"]), pseudonym_key=args["key"], environment="test")
    (s.home / "logs").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=s.home / "logs" / "ingest.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    t0 = time.perf_counter()
    rep = ingest([Path(args["region"])], settings=s)
    wall = time.perf_counter() - t0
    logging.getLogger("benchmarks.ingest").info("ingest report %s", json.dumps(
        rep.to_json(), ensure_ascii=False))
    return {"report": rep.to_json(), "timings": rep.timings, "identities": rep.identities,
            "seconds": wall,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _hl7_rate(work: Path, n: int, key: str) -> dict[str, Any]:
    try:
        from features.ingest.hl7v2 import read_hl7_file, sample_messages
    except ImportError:
        return {"hl7_messages_per_s": None, "hl7_messages": 0}
    from features.identity import DeterministicLinker
    from features.ingest.common import Reject
    from features.records import RecordStore

    path = work / "feed.hl7"
    with path.open("w", encoding="utf-8", newline="") as fh:
        for msg in sample_messages(n, seed=SEED):
            fh.write(msg)
    store = RecordStore(work / "hl7-store" / "records.sqlite")
    linker = DeterministicLinker(key)
    t0 = time.perf_counter()
    pending, rejects, records = [], 0, 0
    for item in read_hl7_file(path, "H7-S1", linker):
        if isinstance(item, Reject):
            rejects += 1
            continue
        pending.append(item)
        records += 1
        if len(pending) >= 2000:
            store.upsert_many(pending)
            pending = []
    store.upsert_many(pending)
    secs = time.perf_counter() - t0
    store.close()
    return {"hl7_messages_per_s": round(n / secs, 1), "hl7_messages": n,
            "hl7_records": records, "hl7_rejects": rejects}


# ----------------------------------------------------------------------------- run
def run(settings, *, quick: bool = False) -> dict[str, Any]:
    from features.identity import link_quality
    from features.synth import generate

    sizes = QUICK if quick else FULL
    work = Path(settings.home) / "bench" / "ingest"
    if work.exists():
        shutil.rmtree(work)
    region, home = work / "region", work / "home"
    key = "bench-ingest-key"  # a scratch key: nothing here outlives the run
    try:
        t0 = time.perf_counter()
        counts = generate(region, seed=SEED, scale=sizes["world"], as_of=AS_OF,
                          patients=sizes["patients"])
        synth_s = time.perf_counter() - t0
        planted = write_sentinel_exports(region, sizes["sentinels"])
        root = Path(__file__).resolve().parents[1]
        args = json.dumps({"home": str(home), "region": str(region), "key": key})
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGIONCARE_")}
        proc = subprocess.run([sys.executable, "-m", "benchmarks.ingest", args],
                              cwd=root, env=env, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ingest child failed: {proc.stderr.strip()[-2000:]}")
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        tm = child["timings"]
        from regioncare.settings import Settings

        s = Settings(home=home, pseudonym_key=key, environment="test")
        q = link_quality(s.records_dir, region / "ground_truth" / "identities.csv")
        found = scan(home, planted, exclude=[s.records_dir])
        in_stores = scan(s.records_dir, planted, exclude=[
            p for p in s.records_dir.iterdir() if p.name not in ("SN-F1", "SN-C1")])
        hl7 = _hl7_rate(work, sizes["hl7_messages"], key)
        rep = child["report"]

        def rate(fmt: str) -> float | None:
            t = tm.get(fmt)
            return round(t["records"] / t["seconds"], 1) if t and t["seconds"] else None

        return {
            "fhir_records_per_s": rate("fhir"), "csv_records_per_s": rate("csv"),
            **hl7,
            "peak_rss_mb": round(child["peak_rss_mb"], 1),
            "records": rep["accepted"], "rejected": rep["rejected"],
            "by_type": rep["by_type"],
            "link_precision": round(q["link_precision"], 5),
            "link_recall": round(q["link_recall"], 5),
            "link_records": q["records"], "link_persons": q["persons"],
            "link_pseudonyms": q["pseudonyms"],
            "review_queue": child["identities"].get("review", 0),
            "sentinel_hits": found["hits"], "sentinel_where": found["where"],
            "sentinels_planted": len(planted),
            "sentinels_in_record_stores": in_stores["hits"],
            "files_scanned": found["files_scanned"],
            "end_to_end_records_per_s": round(rep["accepted"] / child["seconds"], 1),
            "ingest_seconds": round(child["seconds"], 2),
            "stage_seconds": {k: round(v["seconds"], 2) for k, v in tm.items()},
            "synth_seconds": round(synth_s, 1),
            "sizes": {**sizes, "synth": counts},
            "quick": quick, "cpus": os.cpu_count(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # the child process of run()
    print(json.dumps(_child(json.loads(sys.argv[1]))))
