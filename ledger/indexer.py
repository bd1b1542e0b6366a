"""Index every holder's patient records on the chain: institutions, patients' homes, records.

Idempotent: a record whose canonical bytes hash to what the index already holds is skipped,
a changed one is superseded (version + 1), a new one registered; homes are set only for
patients without one. Only opaque values reach the chain: the record key
(``ids.record_key``), the patient's on-chain pseudonym (``ids.patient_key``), the SHA-256,
a coded class and a sensitivity level. Directory records (Organization, Practitioner,
Slot, ...) belong to no patient and are not indexed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledger import ids
from ledger.client import LedgerClient, NotAllowed, RecordIn
from ledger.stores import patient_records, stores

BATCH = 100
# Sensitivity by resource type: 0 routine (logistics), 1 standard clinical data.
LEVELS = {"Appointment": 0, "Task": 0, "Encounter": 0}
# ICD-10 codes that make a diagnosis sensitive (level 2): mental and behavioural disorders,
# HIV disease and status, abortion. A grant opens them only with max_level >= 2.
SENSITIVE_ICD = ("F", "B20", "B21", "B22", "B23", "B24", "Z21", "O04")
CODED = ("Condition", "ServiceRequest", "DiagnosticReport", "Procedure")

Progress = Callable[[int], None]


def classify(resource_type: str, doc: dict[str, Any]) -> tuple[str, int]:
    """(record class, sensitivity level) of a record from its FHIR type (and, for coded
    clinical records, a sensitive ICD-10 code)."""
    record_class = resource_type if resource_type in ids.RECORD_CLASSES else "Other"
    level = LEVELS.get(resource_type, 1)
    if resource_type in CODED:
        code = str(doc.get("code") or doc.get("reasonCode") or "").upper()
        if code.startswith(SENSITIVE_ICD):
            level = 2
    return record_class, level


@dataclass
class IndexReport:
    institutions: int = 0
    records_seen: int = 0
    registered: int = 0
    superseded: int = 0
    unchanged: int = 0
    not_patient: int = 0  # directory records: no patient, nothing to index
    homes_set: int = 0
    conflicts: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def records_per_s(self) -> float:
        written = self.registered + self.superseded
        return round(written / self.seconds, 1) if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": round(self.seconds, 2),
            "records_per_s": self.records_per_s,
        }


def count_records(records_dir: Path) -> int:
    """How many records the stores hold (the progress bar's total)."""
    import sqlite3

    total = 0
    for _holder, path in stores(records_dir):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            total += int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
        finally:
            conn.close()
    return total


def index_stores(
    client: LedgerClient,
    records_dir: Path,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    holders: set[str] | None = None,
) -> IndexReport:
    """Register what is new or changed in every store under ``records_dir`` (or only in
    those of ``holders``)."""
    started = time.perf_counter()
    report = IndexReport()
    found = [(h, p) for h, p in stores(records_dir) if holders is None or h in holders]
    for holder, _path in found:
        client.add_institution(holder)
        report.institutions += 1
    # regional pseudonym -> (first registration date, holder): the home to claim
    first_seen: dict[str, tuple[str, str]] = {}
    for holder, path in found:
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        with client.lock:
            known = client.index.holder_records(holder)
        pending: list[tuple[RecordIn, bool]] = []  # (record, new rather than changed)
        for rec in patient_records(path):
            report.records_seen += 1
            if rec.patient is None:
                report.not_patient += 1
                _tick(progress, 1)
                continue
            if rec.resource_type == "Patient":
                seen = (str(rec.doc.get("registered") or "9999-12-31"), holder)
                first_seen[rec.patient] = min(first_seen.get(rec.patient, seen), seen)
            patient = ids.patient_key(rec.patient)
            sha = ids.sha256(rec.body)
            old = known.get(rec.record_id)
            if old is not None and old[1] != patient:
                # the chain binds a record to one patient: a relinked record needs review
                report.conflicts.append(
                    {
                        "record_id": rec.record_id,
                        "holder": holder,
                        "reason": "patient changed since indexing",
                    }
                )
                _tick(progress, 1)
                continue
            if old is not None and old[0] == sha:
                report.unchanged += 1
                _tick(progress, 1)
                continue
            record_class, level = classify(rec.resource_type, rec.doc)
            pending.append(
                (RecordIn(rec.record_id, patient, sha, record_class, level), old is None)
            )
            if len(pending) >= BATCH:
                _flush(client, holder, pending, report, progress)
                if stop is not None and stop.is_set():
                    report.stopped = True
                    break
        if not report.stopped:
            _flush(client, holder, pending, report, progress)
    if not report.stopped:
        _set_homes(client, first_seen, report, stop)
    report.seconds = time.perf_counter() - started
    return report


def _flush(
    client: LedgerClient,
    holder: str,
    pending: list[tuple[RecordIn, bool]],
    report: IndexReport,
    progress: Progress | None,
) -> None:
    if not pending:
        return
    done = pending
    try:
        client.register_records(holder, [rec for rec, _new in pending])
    except NotAllowed:
        # one refused record reverts its whole batch: find it one by one
        done = []
        for rec, new in pending:
            try:
                client.register_record(holder, rec)
                done.append((rec, new))
            except NotAllowed as exc:
                report.conflicts.append(
                    {"record_id": rec.record_id, "holder": holder, "reason": str(exc)}
                )
    fresh = sum(1 for _rec, new in done if new)
    report.registered += fresh
    report.superseded += len(done) - fresh
    _tick(progress, len(pending))
    pending.clear()


def _set_homes(
    client: LedgerClient,
    first_seen: dict[str, tuple[str, str]],
    report: IndexReport,
    stop: threading.Event | None,
) -> None:
    """The home of a patient without one: where the patient was first registered."""
    with client.lock:
        homed = set(client.index.homes())
    for regional, (_date, holder) in sorted(first_seen.items()):
        if stop is not None and stop.is_set():
            report.stopped = True
            return
        patient = ids.patient_key(regional)
        if patient in homed:
            continue
        try:
            client.set_home(holder, patient)
            report.homes_set += 1
        except NotAllowed:  # claimed meanwhile (e.g. by a grant): keep that home
            pass


def _tick(progress: Progress | None, n: int) -> None:
    if progress is not None:
        progress(n)


def index_region(
    settings: Any, *, progress: Progress | None = None, ledger: Any = None
) -> IndexReport:
    """Open the ledger from the settings (or use ``ledger``) and index the record stores."""
    if ledger is not None:
        return index_stores(ledger.client, settings.records_dir, progress=progress)
    from ledger.service import open_ledger

    with open_ledger(settings) as opened:
        return index_stores(opened.client, settings.records_dir, progress=progress)
