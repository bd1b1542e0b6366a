"""`regioncare bench ingest` in quick mode: every key, the sentinel scan, the link bars."""

from __future__ import annotations

from benchmarks.ingest import run, scan

from .conftest import make_settings

KEYS = {"fhir_records_per_s", "csv_records_per_s", "hl7_messages_per_s", "peak_rss_mb",
        "records", "link_precision", "link_recall", "sentinel_hits"}


def test_bench_ingest_quick(tmp_path):
    r = run(make_settings(tmp_path / "home"), quick=True)
    assert KEYS <= set(r)
    assert r["records"] > 5000 and r["fhir_records_per_s"] > 0 and r["csv_records_per_s"] > 0
    assert r["hl7_messages_per_s"] > 0 and r["hl7_rejects"] == 0
    assert r["sentinel_hits"] == 0, r["sentinel_where"]
    assert r["sentinels_in_record_stores"] > 0  # planted values did get in (upstream)
    assert r["files_scanned"] >= 5  # parquet, quarantine, quality report, log
    assert r["link_precision"] >= 0.995 and r["link_recall"] >= 0.97
    assert r["rejected"] > 0  # the broken sentinel records were quarantined
    assert not (tmp_path / "home" / "bench" / "ingest").exists()  # scratch removed


def test_scan_finds_what_is_there(tmp_path):
    (tmp_path / "a.log").write_text("x SNTL0001 y", encoding="utf-8")
    (tmp_path / "b.csv").write_bytes("哨兵二".encode("gb18030"))
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "c.txt").write_text("SNTL0003", encoding="utf-8")
    found = scan(tmp_path, ["SNTL0001", "哨兵二", "SNTL0003", "absent"],
                 exclude=[tmp_path / "skip"])
    assert found["hits"] == 2 and set(found["where"]) == {"a.log", "b.csv"}
