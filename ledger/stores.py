"""The one adapter between verification and the holders' record stores.

Assumes ``<records_dir>/<INSTITUTION>/records.sqlite`` with a table
``records(record_id TEXT PRIMARY KEY, resource_type TEXT, body BLOB)``; change only this
file if the stores change (or pass your own callable to :func:`ledger.verify.verify`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

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
