"""The Feast store of the embedded default, and the two ways models read from it.

Training reads point-in-time rows with ``historical_features``; serving reads the latest
rows with ``online_rows``. Both take their feature list from a feature service, so the
model reads exactly what the service names.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from regioncare.errors import UserError
from regioncare.settings import Settings

if TYPE_CHECKING:  # feast takes ~9 s to import: only where it is used
    from feast import FeatureStore

FEATURE_STORE_YAML = """\
# Written by `regioncare features apply`; paths are relative to this folder.
project: {project}
provider: local
registry:
  path: registry.db
  cache_ttl_seconds: 0
online_store:
{online_store}
offline_store:
  type: file
entity_key_serialization_version: 3
"""

REPO_SHIM = """\
# Lets the feast CLI (`feast ui`, `feast plan`) read the definitions from this folder.
from features.feature_repo.definitions import *  # noqa: F401,F403
"""


def redis_connection_string(url: str) -> str:
    """Feast's Redis form ``host:port[,db=N,...]`` from ``redis://host:port[/db]`` or itself."""
    if not url.startswith(("redis://", "rediss://")):
        return url
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    if parts.path.strip("/"):
        conn += f",db={parts.path.strip('/')}"
    if parts.password:
        conn += f",password={parts.password}"
    if url.startswith("rediss://"):
        conn += ",ssl=true"
    return conn


def _online_store_yaml(settings: Settings) -> str:
    if settings.online_store == "redis":
        conn = redis_connection_string(settings.redis_url)
        return f"  type: redis\n  connection_string: \"{conn}\""
    return "  type: sqlite\n  path: online.db"


def write_repo(settings: Settings) -> Path:
    """Write feature_store.yaml and the definitions shim into the Feast repo folder."""
    repo = settings.feast_dir
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "data").mkdir(exist_ok=True)
    yaml = FEATURE_STORE_YAML.format(project=settings.feast_project,
                                     online_store=_online_store_yaml(settings))
    (repo / "feature_store.yaml").write_text(yaml)
    (repo / "repo.py").write_text(REPO_SHIM)
    (repo / ".feastignore").write_text("data/\n")
    return repo


def open_store(settings: Settings) -> FeatureStore:
    from feast import FeatureStore

    repo = write_repo(settings)
    return FeatureStore(repo_path=str(repo))


@dataclass
class ApplyResult:
    feature_views: int
    feature_services: int


def _rebuild_or_ingest(settings: Settings) -> str:
    """What rebuilds the offline tables here: the record stores if there are any."""
    from features.records import list_stores

    return "features rebuild" if list_stores(settings.records_dir) else "ingest"


def apply(settings: Settings) -> ApplyResult:
    """Register every definition; the online tables exist only after this."""
    from features.feature_repo import definitions

    missing = [p.name for p in _source_files(settings) if not p.exists()]
    if missing:
        raise UserError(
            f"offline tables missing in {settings.offline_dir}: {', '.join(missing)} "
            f"(run `regioncare {_rebuild_or_ingest(settings)}` first)"
        )
    write_availability_table(settings)
    store = open_store(settings)
    with contextlib.redirect_stdout(sys.stderr):
        store.apply(definitions.ALL)  # type: ignore[arg-type]
    return ApplyResult(feature_views=len(store.list_feature_views()),
                       feature_services=len(store.list_feature_services()))


def _source_files(settings: Settings) -> list[Path]:
    names = ["patients.parquet", "continuity.parquet", "practitioners.parquet",
             "institutions.parquet"]
    return [settings.offline_dir / n for n in names]


# Batch files written only by appending rows later than every row already there.
APPEND_ONLY_SOURCES = {"data/availability.parquet"}


def materialize(settings: Settings, *, end: datetime | None = None) -> int:
    """Load rows newer than the last materialisation into the online store.

    Returns how many source rows fell inside the materialised windows. Incremental windows
    follow event time, so a source file rewritten by a later ingest (new rows may carry old
    event times) is materialised again from its oldest row: the file's size and mtime are
    remembered per view to tell.

    The latest row per entity in the window is written with Feast's
    ``write_to_online_store`` in batches. Feast's own ``materialize`` turns the whole window
    into Python rows at once: 12.4 GB peak for the `large` region's 6.6M rows; re-reading the
    file per smaller window bounded memory but took four times as long (measured).
    """
    write_availability_table(settings)
    store = open_store(settings)
    end = end or datetime.now(UTC)
    seen_path = settings.feast_dir / "materialized.json"
    seen = json.loads(seen_path.read_text()) if seen_path.exists() else {}
    rows = 0
    for fv in store.list_feature_views():
        source_path = str(getattr(fv.batch_source, "path", ""))
        path = settings.feast_dir / source_path
        stat = path.stat()
        fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}"
        before = seen.get(fv.name)
        before = before if isinstance(before, dict) else {}
        unchanged = before.get("fingerprint") == fingerprint
        # Availability snapshots are only ever appended at later times: incremental is exact.
        appended = source_path in APPEND_ONLY_SOURCES and bool(before)
        last = before.get("end") if unchanged or appended else None
        start = pd.Timestamp(last) if last else None
        rows += _write_window(store, fv, path, start, pd.Timestamp(end),
                              settings.materialize_chunk_rows)
        seen[fv.name] = {"fingerprint": fingerprint, "end": end.isoformat()}
    seen_path.write_text(json.dumps(seen))
    touch_online_marker(settings)
    return rows


def _write_window(store: FeatureStore, fv: Any, path: Path, start: pd.Timestamp | None,
                  end: pd.Timestamp, batch_rows: int) -> int:
    """Latest row per entity with start <= event time <= end, written in batches."""
    keys = [c.name for c in fv.entity_columns]
    columns = [*keys, "event_timestamp", *(f.name for f in fv.features)]
    bounds = [("event_timestamp", "<=", end)]
    if start is not None:
        bounds.append(("event_timestamp", ">=", start))
    missing = sorted(set(columns) - set(pq.read_schema(path).names))
    if missing:  # an offline table written before the feature existed
        raise UserError(f"{path.name} has no column {', '.join(missing)} (feature view "
                        f"{fv.name}): run `regioncare features rebuild` to rebuild the "
                        "offline tables from the record stores")
    frame = pd.read_parquet(path, columns=columns, filters=bounds)
    inside = len(frame)
    frame = frame.sort_values("event_timestamp", kind="stable").drop_duplicates(keys,
                                                                                keep="last")
    with contextlib.redirect_stdout(sys.stderr):
        for i in range(0, len(frame), batch_rows):
            store.write_to_online_store(fv.name, frame.iloc[i:i + batch_rows])
    return inside


# -- availability (the batch side of the push source) -----------------------------------------

AVAILABILITY_HORIZON_DAYS = 14
AVAILABILITY_COLUMNS = ["practitioner_id", "event_timestamp", "next_open_slot",
                        "free_slots_14d", "booked_14d"]


def availability_rows(slots: pd.DataFrame, at: datetime,
                      practitioner_ids: list[str] | None = None) -> pd.DataFrame:
    """Per-practitioner availability as of ``at`` from slot rows (practitioner_id, start,
    status free|busy): the earliest free slot from ``at`` on and the free and booked slots
    in the next 14 days. Practitioners in ``practitioner_ids`` without slots get a row too.
    """
    at_ts = pd.Timestamp(at).tz_convert("UTC") if pd.Timestamp(at).tzinfo else \
        pd.Timestamp(at, tz="UTC")
    horizon = at_ts + pd.Timedelta(days=AVAILABILITY_HORIZON_DAYS)
    start = pd.to_datetime(slots["start"], utc=True)
    ahead = slots[start >= at_ts].assign(start=start[start >= at_ts])
    free = ahead[ahead["status"] == "free"]
    soon = ahead[ahead["start"] < horizon]
    ids = sorted(set(slots["practitioner_id"]) | set(practitioner_ids or []))
    out = pd.DataFrame({"practitioner_id": ids})
    out["event_timestamp"] = at_ts
    out["next_open_slot"] = free.groupby("practitioner_id")["start"].min().reindex(ids).values
    out["next_open_slot"] = pd.to_datetime(out["next_open_slot"], utc=True)
    counts = soon.groupby(["practitioner_id", "status"]).size().unstack(fill_value=0)
    for col, status in (("free_slots_14d", "free"), ("booked_14d", "busy")):
        series = counts[status] if status in counts.columns else pd.Series(dtype="int64")
        out[col] = series.reindex(ids).fillna(0).astype("int64").to_numpy()
    return out[AVAILABILITY_COLUMNS]


def current_slots(settings: Settings) -> pd.DataFrame:
    """Slots from the offline table with the bookings and cancellations pushed since."""
    from features.push import apply_slot_changes

    path = settings.offline_dir / "slots.parquet"
    if path.exists():
        slots = pd.read_parquet(path, columns=["practitioner_id", "start", "status"])
    else:
        slots = pd.DataFrame({"practitioner_id": pd.Series(dtype=str),
                              "start": pd.Series(dtype="datetime64[ns, UTC]"),
                              "status": pd.Series(dtype=str)})
    return apply_slot_changes(settings, slots)


def write_availability_table(settings: Settings, *, at: datetime | None = None) -> Path:
    """Append an availability snapshot as of ``at`` (now) to ``data/availability.parquet``.

    Snapshots accumulate, so training reads availability point-in-time like every other
    view; ``materialize`` loads the newest one into the online store.
    """
    path = settings.offline_dir / "availability.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    at = at or datetime.now(UTC)
    ids: list[str] = []
    prac = settings.offline_dir / "practitioners.parquet"
    if prac.exists():
        frame = pd.read_parquet(prac, columns=["practitioner_id"])
        ids = frame["practitioner_id"].unique().tolist()
    snapshot = availability_rows(current_slots(settings), at, ids)
    if path.exists():
        old = pd.read_parquet(path)
        old = old[old["event_timestamp"] < snapshot["event_timestamp"].min()] \
            if len(snapshot) else old
        snapshot = pd.concat([old, snapshot], ignore_index=True) if len(old) else snapshot
    tmp = path.with_suffix(".parquet.tmp")
    snapshot.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


# -- the change marker that serving caches poll ---------------------------------------------

def online_marker_path(settings: Settings) -> Path:
    return settings.feast_dir / "online.version"


def touch_online_marker(settings: Settings) -> int:
    """Record that online features changed (materialise, push); returns the new stamp."""
    import os
    import time

    path = online_marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.time_ns()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(stamp))
    tmp.replace(path)
    return stamp


def online_marker(settings: Settings) -> int:
    """The last change stamp (0 if none): one ``stat``, cheap enough to poll per request."""
    try:
        st = online_marker_path(settings).stat()
    except FileNotFoundError:
        return 0
    return hash((st.st_ino, st.st_mtime_ns)) or 1  # a new file per change: inode moves too


def service_refs(store: FeatureStore, service_name: str) -> dict[str, list[str]]:
    """Feature references of a feature service, grouped by feature view."""
    service = store.get_feature_service(service_name)
    refs: dict[str, list[str]] = defaultdict(list)
    for projection in service.feature_view_projections:
        for feature in projection.features:
            refs[projection.name_to_use()].append(feature.name)
    return dict(refs)


@dataclass
class HistoricalResult:
    frame: pd.DataFrame
    rows_without_features: dict[str, int]


def historical_features(
    store: FeatureStore,
    service_name: str,
    view: str,
    entity_df: pd.DataFrame,
    *,
    join_key: str,
) -> HistoricalResult:
    """Point-in-time features of one view of a service, one output row per input row.

    Feast's file offline store drops entity rows that have no earlier feature row rather
    than returning nulls. Each row carries a row id; the result is reindexed on it, so a
    dropped row comes back as nulls and is counted instead of silently disappearing.
    """
    features = service_refs(store, service_name)[view]
    keyed = entity_df[[join_key, "event_timestamp"]].reset_index(drop=True)
    # Rows that ask the same thing are asked once: (key, timestamp) pairs repeat a lot.
    unique = keyed.drop_duplicates().reset_index(drop=True)
    unique["_row_id"] = np.arange(len(unique))
    refs = [f"{view}:{name}" for name in features]
    with contextlib.redirect_stdout(sys.stderr):
        joined = store.get_historical_features(entity_df=unique, features=refs).to_df()
    joined = joined.set_index("_row_id")[features].reindex(np.arange(len(unique)))
    dropped = int(joined[features].isna().all(axis=1).sum()) if features else 0
    row_ids = keyed.merge(unique, on=[join_key, "event_timestamp"], how="left")["_row_id"]
    if len(row_ids) != len(entity_df) or row_ids.isna().any():
        raise AssertionError(f"{view}: {len(entity_df)} rows in, {len(row_ids)} matched")
    out = joined.loc[row_ids.to_numpy()]
    out.index = entity_df.index
    return HistoricalResult(out, {view: dropped})


def online_rows(
    store: FeatureStore, service_name: str, view: str, join_key: str, keys: list[str]
) -> dict[str, list[Any]]:
    """Latest online features of one view of a service for the given entity keys."""
    features = service_refs(store, service_name)[view]
    refs = [f"{view}:{name}" for name in features]
    response = store.get_online_features(features=refs, entity_rows=[{join_key: k} for k in keys])
    return response.to_dict()
