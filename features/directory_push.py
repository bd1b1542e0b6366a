"""Directory changes that the models read, pushed to the online store.

An institution's admin may deactivate or reactivate a practitioner, or change their
specialty or weekly capacity (``collaboration_api.directory``). After the change is
committed, :func:`push_practitioner` brings the online store to the new state:

* availability (``practitioner_availability_fv``), through the same push source as
  bookings: an inactive practitioner's future free slots are closed (neither free nor
  booked), a reactivated one's reopened. The closures go to the slot log of
  ``features.push``, so ``materialize`` and training point-in-time keep them;
* the practitioner's profile (``practitioner_profile_fv``): specialty, and weekly capacity
  (0 while inactive: no clinic slots are offered);
* the institution's staff (``institution_fv.n_practitioners``): active practitioners.

Profile and institution rows are the latest offline row with the admin's state laid over,
written to the online store directly (their views have a batch source, no push source).
Each push is the whole state, not a delta, so a repeated push changes nothing. The online
marker is touched last: the recommender's candidate cache reloads with every part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.push import (
    cached_store,
    practitioner_slots,
    push_availability,
    record_slot_change,
)
from regioncare.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

CLOSED = "closed"  # a slot taken off the schedule: counted neither free nor booked
PROFILE_VIEW = "practitioner_profile_fv"
INSTITUTION_VIEW = "institution_fv"


@dataclass(frozen=True)
class PractitionerState:
    """What the directory says about a practitioner now (``None``: the record's value)."""

    practitioner_id: str
    institution_id: str
    active: bool = True
    specialty: str | None = None
    weekly_capacity: float | None = None


@dataclass
class DirectoryPushResult:
    practitioner_id: str
    free_slots_14d: int
    specialty: str | None
    weekly_capacity: float | None
    institution_n_practitioners: int | None


def _latest(settings: Settings, table: str, key: str, value: str) -> pd.Series | None:
    path = settings.offline_dir / f"{table}.parquet"
    if not path.exists():
        return None
    rows = pd.read_parquet(path, filters=[(key, "==", value)])
    if rows.empty:
        return None
    return rows.sort_values("event_timestamp").iloc[-1]


def _stamp(at: datetime, base: pd.Series) -> pd.Timestamp:
    # Later than the offline row: a Redis online store keeps the newer of two writes.
    return max(pd.Timestamp(at), pd.Timestamp(base["event_timestamp"]) + pd.Timedelta(
        microseconds=1))


def set_slots_open(settings: Settings, practitioner_id: str, *, open_: bool,
                   at: datetime) -> int:
    """Close the practitioner's free slots from ``at`` on, or reopen the closed ones;
    returns how many slots changed."""
    slots = practitioner_slots(settings, practitioner_id)
    start = pd.to_datetime(slots["start"], utc=True)
    if open_:
        chosen = slots[slots["status"] == CLOSED]
        status = "free"
    else:
        chosen = slots[(slots["status"] == "free") & (start >= pd.Timestamp(at))]
        status = CLOSED
    for when in pd.to_datetime(chosen["start"], utc=True):
        record_slot_change(settings, practitioner_id=practitioner_id,
                           start=when.to_pydatetime(), status=status, at=at)
    return len(chosen)


def push_practitioner(settings: Settings, state: PractitionerState, *,
                      inactive_at_institution: int, at: datetime | None = None,
                      store: FeatureStore | None = None) -> DirectoryPushResult:
    """Push a practitioner's directory state (and their institution's active staff count,
    given as the number of inactive practitioners there) to the online store."""
    from features.store import availability_rows, touch_online_marker

    at = at or datetime.now(UTC)
    store = store or cached_store(settings)
    pid = state.practitioner_id
    set_slots_open(settings, pid, open_=state.active, at=at)
    avail = availability_rows(practitioner_slots(settings, pid), at, [pid])
    avail = avail[avail["practitioner_id"] == pid]
    push_availability(settings, avail, store=store)

    capacity = specialty = None
    profile = _latest(settings, "practitioners", "practitioner_id", pid)
    if profile is not None:
        row = profile.copy()
        if state.specialty:
            row["specialty"] = state.specialty
        if not state.active:
            row["weekly_capacity"] = 0.0
        elif state.weekly_capacity is not None:
            row["weekly_capacity"] = float(state.weekly_capacity)
        row["event_timestamp"] = _stamp(at, profile)
        _write(store, PROFILE_VIEW, row)
        capacity, specialty = float(row["weekly_capacity"]), str(row["specialty"])

    staff = None
    inst = _latest(settings, "institutions", "institution_id", state.institution_id)
    if inst is not None:
        row = inst.copy()
        staff = max(0, int(inst["n_practitioners"]) - inactive_at_institution)
        row["n_practitioners"] = staff
        row["event_timestamp"] = _stamp(at, inst)
        _write(store, INSTITUTION_VIEW, row)
    touch_online_marker(settings)
    free = int(avail["free_slots_14d"].iloc[0]) if len(avail) else 0
    return DirectoryPushResult(pid, free, specialty, capacity, staff)


def _write(store: Any, view: str, row: pd.Series) -> None:
    frame = pd.DataFrame([row.to_dict()])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    store.write_to_online_store(view, frame)
