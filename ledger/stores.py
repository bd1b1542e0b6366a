"""The one adapter between verification and the holders' record stores.

Assumes ``<records_dir>/<INSTITUTION>/records.sqlite`` with a table
``records(record_id TEXT PRIMARY KEY, resource_type TEXT, body BLOB)`` (bodies are FHIR-shaped
JSON: ``subject`` names the local patient id, a Task's ``focus`` its ServiceRequest) and,
for the indexer, ``patient_index(id, patient_id_regional)``; change only this file if the
stores change (or pass your own callable to :func:`ledger.verify.verify`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regioncare.errors import UserError


def store_lister(records_dir: Path) -> Callable[[], Iterator[tuple[str, str, bytes | None]]]:
    """A ``list_records`` callable over every institution's store under ``records_dir``."""
    records_dir = Path(records_dir)
    if not records_dir.is_dir():
        raise UserError(f"no record stores at {records_dir}")

    def list_records() -> Iterator[tuple[str, str, bytes | None]]:
        for store in sorted(records_dir.glob("*/records.sqlite")):
            holder = store.parent.name
            try:
                conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
                rows = conn.execute("SELECT record_id, body FROM records")
                for record_id, body in rows:
                    if isinstance(body, str):
                        body = body.encode()
                    yield holder, str(record_id), None if body is None else bytes(body)
                conn.close()
            except sqlite3.Error as exc:
                raise UserError(f"unreadable record store {store}: {exc}") from None

    return list_records


@dataclass(frozen=True)
class StoreRecord:
    """One record of a holder as the indexer needs it (the bytes never leave the process)."""

    record_id: str
    resource_type: str
    body: bytes
    doc: dict[str, Any]
    patient: str | None  # the regional pseudonym of its patient; None for directory records


def stores(records_dir: Path) -> list[tuple[str, Path]]:
    """(holder code, store path) of every record store under ``records_dir``, sorted."""
    root = Path(records_dir)
    if not root.is_dir():
        return []
    return sorted((p.parent.name, p) for p in root.glob("*/records.sqlite"))


def patient_records(store: Path) -> Iterator[StoreRecord]:
    """Every record of one store with the regional pseudonym of its patient: ``subject`` (or
    the Patient record itself) through the store's patient index, a Task through the
    ServiceRequest it focuses on."""
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            regional = _patient_index(conn)
            subject_of = {}
            for _rid, body in conn.execute(
                "SELECT record_id, body FROM records WHERE resource_type='ServiceRequest'"
            ):
                doc = json.loads(body)
                subject_of[str(doc.get("id"))] = str(doc.get("subject") or "")
            for rid, rtype, body in conn.execute(
                "SELECT record_id, resource_type, body FROM records ORDER BY record_id"
            ):
                raw = body.encode() if isinstance(body, str) else bytes(body)
                doc = json.loads(raw)
                if rtype == "Patient":
                    local = str(doc.get("id") or "")
                elif rtype == "Task":
                    local = subject_of.get(str(doc.get("focus") or ""), "")
                else:
                    local = str(doc.get("subject") or "")
                patient = regional.get(local) if local else None
                if rtype == "Patient" and not patient:
                    patient = doc.get("patient_id_regional") or None
                yield StoreRecord(str(rid), str(rtype), raw, doc, patient)
        finally:
            conn.close()
    except (sqlite3.Error, ValueError) as exc:
        raise UserError(f"unreadable record store {store}: {exc}") from None


def _patient_index(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        rows = conn.execute("SELECT id, patient_id_regional FROM patient_index")
        return {str(i): str(r) for i, r in rows if r}
    except sqlite3.OperationalError:  # a store without the index: none of its patients known
        return {}
