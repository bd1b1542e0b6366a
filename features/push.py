"""Fresh availability: bookings, cancellations and slot changes reach the online store in
about a millisecond to a few, through the Feast push source ``practitioner_availability_push``.

The API calls :func:`push_booking` when an appointment is booked or cancelled. Each change is
also kept in a small SQLite log next to the Feast repo (``slot_changes.sqlite``), so that the
next ``materialize`` (which rebuilds availability from ``slots.parquet``) starts from the same
state instead of reverting pushed changes, and so that training sees them point-in-time.
After each push the online marker is touched: serving caches poll it and refresh.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from regioncare.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

PUSH_SOURCE = "practitioner_availability_push"
AVAILABILITY_VIEW = "practitioner_availability_fv"
BOOKED, CANCELLED, FREE = "booked", "cancelled", "free"
_STATUS = {BOOKED: "busy", CANCELLED: "free", FREE: "free", "busy": "busy"}

_stores: dict[Path, Any] = {}
_stores_lock = threading.Lock()


def cached_store(settings: Settings) -> FeatureStore:
    """One FeatureStore per Feast repo per process: opening one reads the registry."""
    from features.store import open_store

    key = settings.feast_dir.resolve()
    with _stores_lock:
        if key not in _stores:
            _stores[key] = open_store(settings)
        return _stores[key]


def _log_path(settings: Settings) -> Path:
    return settings.feast_dir / "slot_changes.sqlite"


def _connect(settings: Settings) -> sqlite3.Connection:
    path = _log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS slot_change (practitioner_id TEXT NOT NULL, "
                "start_ns INTEGER NOT NULL, status TEXT NOT NULL, at_ns INTEGER NOT NULL, "
                "PRIMARY KEY (practitioner_id, start_ns))")
    return con


def record_slot_change(settings: Settings, *, practitioner_id: str, start: datetime,
                       status: str, at: datetime) -> None:
    """Remember the latest state of one slot (``busy`` or ``free``)."""
    with _connect(settings) as con:
        con.execute("INSERT INTO slot_change VALUES (?, ?, ?, ?) ON CONFLICT(practitioner_id, "
                    "start_ns) DO UPDATE SET status=excluded.status, at_ns=excluded.at_ns "
                    "WHERE excluded.at_ns >= slot_change.at_ns",
                    (practitioner_id, pd.Timestamp(start).value, status, pd.Timestamp(at).value))
    con.close()


def apply_slot_changes(settings: Settings, slots: pd.DataFrame,
                       practitioner_id: str | None = None) -> pd.DataFrame:
    """Slots (practitioner_id, start, status) with the logged changes laid over them; a
    change at a start with no slot (an appointment outside the published slots) is added."""
    if not _log_path(settings).exists():
        return slots
    con = _connect(settings)
    try:
        sql = "SELECT practitioner_id, start_ns, status FROM slot_change"
        args: tuple[Any, ...] = ()
        if practitioner_id is not None:
            sql, args = sql + " WHERE practitioner_id = ?", (practitioner_id,)
        changes = pd.DataFrame(con.execute(sql, args).fetchall(),
                               columns=["practitioner_id", "start_ns", "status"])
    finally:
        con.close()
    if changes.empty:
        return slots
    changes["start"] = pd.to_datetime(changes.pop("start_ns"), utc=True)
    base = slots[["practitioner_id", "start", "status"]].copy()
    base["start"] = pd.to_datetime(base["start"], utc=True)
    merged = base.merge(changes, on=["practitioner_id", "start"], how="outer",
                        suffixes=("", "_new"))
    merged["status"] = merged["status_new"].fillna(merged["status"])
    return merged[["practitioner_id", "start", "status"]]


def practitioner_slots(settings: Settings, practitioner_id: str) -> pd.DataFrame:
    path = settings.offline_dir / "slots.parquet"
    if path.exists():
        slots = pd.read_parquet(path, columns=["practitioner_id", "start", "status"],
                                filters=[("practitioner_id", "==", practitioner_id)])
    else:
        slots = pd.DataFrame({"practitioner_id": pd.Series(dtype=str),
                              "start": pd.Series(dtype="datetime64[ns, UTC]"),
                              "status": pd.Series(dtype=str)})
    return apply_slot_changes(settings, slots, practitioner_id)


def push_availability(settings: Settings, rows: pd.DataFrame, *,
                      store: FeatureStore | None = None) -> int:
    """Push full availability rows (features.store.AVAILABILITY_COLUMNS) to the online store
    and touch the online marker; returns the number of rows pushed."""
    from feast.data_source import PushMode

    from features.store import AVAILABILITY_COLUMNS, touch_online_marker

    if rows.empty:
        return 0
    store = store or cached_store(settings)
    frame = rows[AVAILABILITY_COLUMNS].copy()
    # Feast refuses an all-null frame; a practitioner with no slot at all still has counts.
    frame["free_slots_14d"] = frame["free_slots_14d"].astype("int64")
    frame["booked_14d"] = frame["booked_14d"].astype("int64")
    store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)
    touch_online_marker(settings)
    return len(frame)


@dataclass
class PushResult:
    practitioner_id: str
    next_open_slot: str | None
    free_slots_14d: int
    booked_14d: int
    event_timestamp: str


def push_booking(settings: Settings, *, practitioner_id: str, start: datetime,
                 status: str = BOOKED, at: datetime | None = None,
                 store: FeatureStore | None = None) -> PushResult:
    """A booking (``status="booked"``), cancellation (``"cancelled"``) or a slot opened
    (``"free"``) at ``start`` for one practitioner: logged, the practitioner's availability
    recomputed, pushed online. Visible to ``get_online_features`` when this returns.
    """
    from features.store import availability_rows

    if status not in _STATUS:
        raise ValueError(f"status must be one of {sorted(_STATUS)}, not {status!r}")
    at = at or datetime.now(UTC)
    record_slot_change(settings, practitioner_id=practitioner_id, start=start,
                       status=_STATUS[status], at=at)
    row = availability_rows(practitioner_slots(settings, practitioner_id), at,
                            [practitioner_id])
    row = row[row["practitioner_id"] == practitioner_id]
    push_availability(settings, row, store=store)
    r = row.iloc[0]
    nxt = None if pd.isna(r["next_open_slot"]) else pd.Timestamp(r["next_open_slot"]).isoformat()
    return PushResult(practitioner_id, nxt, int(r["free_slots_14d"]), int(r["booked_14d"]),
                      pd.Timestamp(r["event_timestamp"]).isoformat())
