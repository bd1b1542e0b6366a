"""The same feature code against SQLite and Redis: apply, materialise, look up, push."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import pytest
import torch

from features.push import push_booking
from features.store import (
    availability_rows,
    current_slots,
    materialize,
    online_rows,
    service_refs,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values("event_timestamp").groupby(key).tail(1).set_index(key)


def test_online_rows_are_the_latest_offline_rows(online) -> None:  # type: ignore[no-untyped-def]
    offline = online.settings.offline_dir
    patients = _latest(pd.read_parquet(offline / "patients.parquet"), "patient_id")
    keys = patients.index[:25].tolist()
    got = online_rows(online.store, "referral_matching_v1", "patient_profile_fv",
                      "patient_id", keys)
    for name in ("age_years", "sex", "home_region", "comorbidity_index", "prior_referrals"):
        assert got[name] == patients.loc[keys, name].tolist(), name

    prac = _latest(pd.read_parquet(offline / "practitioners.parquet"), "practitioner_id")
    ids = prac.index.tolist()
    got = online_rows(online.store, "specialist_scheduling_v1", "practitioner_profile_fv",
                      "practitioner_id", ids)
    assert got["specialty"] == prac["specialty"].tolist()
    assert got["acceptance_rate"] == pytest.approx(prac["acceptance_rate"].tolist(), rel=1e-5)

    inst = _latest(pd.read_parquet(offline / "institutions.parquet"), "institution_id")
    got = online_rows(online.store, "specialist_scheduling_v1", "institution_fv",
                      "institution_id", inst.index.tolist())
    assert got["tier"] == inst["tier"].tolist()


def test_availability_is_materialised_from_slots(online) -> None:  # type: ignore[no-untyped-def]
    refs = service_refs(online.store, "specialist_scheduling_v1")
    assert refs["practitioner_availability_fv"] == ["next_open_slot", "free_slots_14d",
                                                    "booked_14d"]
    assert "practitioner_availability_fv" in service_refs(online.store, "referral_matching_v1")
    snap = pd.read_parquet(online.settings.offline_dir / "availability.parquet")
    latest = _latest(snap, "practitioner_id")
    ids = latest.index.tolist()
    got = online_rows(online.store, "specialist_scheduling_v1", "practitioner_availability_fv",
                      "practitioner_id", ids)
    assert got["free_slots_14d"] == latest["free_slots_14d"].tolist()
    assert got["booked_14d"] == latest["booked_14d"].tolist()
    assert sum(got["free_slots_14d"]) > 0


def _free_future_slot(settings) -> tuple[str, datetime]:  # type: ignore[no-untyped-def]
    slots = current_slots(settings)
    now = pd.Timestamp.now(tz="UTC")
    free = slots[(slots["status"] == "free") & (slots["start"] > now + pd.Timedelta(hours=1))
                 & (slots["start"] < now + pd.Timedelta(days=10))]
    first = free.sort_values("start").groupby("practitioner_id").head(1).iloc[0]
    return str(first["practitioner_id"]), first["start"].to_pydatetime()


def _availability(online, pid: str) -> dict:  # type: ignore[no-untyped-def]
    row = online_rows(online.store, "specialist_scheduling_v1",
                      "practitioner_availability_fv", "practitioner_id", [pid])
    return {k: v[0] for k, v in row.items()}


def test_a_pushed_booking_is_read_back_online(online) -> None:  # type: ignore[no-untyped-def]
    # How fast it shows is `regioncare bench features` (push_visible_s); here: that it does.
    pid, start = _free_future_slot(online.settings)
    before = _availability(online, pid)

    t0 = time.perf_counter()
    result = push_booking(online.settings, practitioner_id=pid, start=start, status="booked",
                          store=online.store)
    while True:  # visible through get_online_features, not just written
        after = _availability(online, pid)
        if after["booked_14d"] == before["booked_14d"] + 1 or time.perf_counter() - t0 > 30:
            break
        time.sleep(0.005)
    assert after["booked_14d"] == before["booked_14d"] + 1 == result.booked_14d
    assert after["free_slots_14d"] == before["free_slots_14d"] - 1
    assert after["next_open_slot"] is None or after["next_open_slot"] > start.replace(tzinfo=UTC)

    # A re-materialisation does not revert the pushed booking: the change log carries it.
    materialize(online.settings)
    assert _availability(online, pid)["booked_14d"] == before["booked_14d"] + 1

    # Cancelling frees the slot again.
    push_booking(online.settings, practitioner_id=pid, start=start, status="cancelled",
                 store=online.store)
    again = _availability(online, pid)
    assert again["booked_14d"] == before["booked_14d"]
    assert again["free_slots_14d"] == before["free_slots_14d"]
    assert pd.Timestamp(again["next_open_slot"]) == pd.Timestamp(start)


def test_materialize_is_incremental(online) -> None:  # type: ignore[no-untyped-def]
    offline = online.settings.offline_dir
    n_patients = len(pd.read_parquet(offline / "patients.parquet", columns=["patient_id"]))
    n_prac = pd.read_parquet(offline / "practitioners.parquet",
                             columns=["practitioner_id"])["practitioner_id"].nunique()
    rows = materialize(online.settings)
    # Nothing new but the availability snapshot of this run (one row per practitioner).
    assert rows < n_patients
    assert rows <= n_prac + 5


def test_availability_rows_counts() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    slots = pd.DataFrame({
        "practitioner_id": ["a", "a", "a", "a", "b"],
        "start": pd.to_datetime(["2025-12-31 09:00", "2026-01-02 09:00", "2026-01-03 09:00",
                                 "2026-02-01 09:00", "2026-01-02 10:00"], utc=True),
        "status": ["free", "busy", "free", "free", "busy"]})
    rows = availability_rows(slots, at, ["a", "b", "c"]).set_index("practitioner_id")
    assert rows.loc["a", "next_open_slot"] == pd.Timestamp("2026-01-03 09:00", tz="UTC")
    assert rows.loc["a", "free_slots_14d"] == 1 and rows.loc["a", "booked_14d"] == 1
    assert pd.isna(rows.loc["b", "next_open_slot"]) and rows.loc["b", "booked_14d"] == 1
    assert rows.loc["c", "free_slots_14d"] == 0


def _cache(online):  # type: ignore[no-untyped-def]
    import threading

    from serving.predictor import CandidateCache

    def ids() -> list[str]:
        prac = pd.read_parquet(online.settings.offline_dir / "practitioners.parquet",
                               columns=["practitioner_id"])
        return sorted(prac["practitioner_id"].unique().tolist())

    def no_offline(_ids: list[str]) -> dict:  # type: ignore[type-arg]
        raise AssertionError("the cache must read the online store here")

    return CandidateCache(online.settings, store=lambda: online.store, ids=ids,
                          offline_rows=no_offline, stop=threading.Event(), poll_s=0.05)


def test_candidate_cache_follows_pushes(online) -> None:  # type: ignore[no-untyped-def]
    cache = _cache(online)
    assert cache.refresh() > 0 and cache.snapshot is not None
    assert cache.snapshot.source == "online" and not cache.stale()
    pid, start = _free_future_slot(online.settings)
    i = cache.snapshot.index[pid]
    assert pd.Timestamp(cache.snapshot.next_slot[i]) <= pd.Timestamp(start)
    cache.start_watch()
    try:
        before = cache.snapshot
        t0 = time.perf_counter()
        push_booking(online.settings, practitioner_id=pid, start=start, store=online.store)
        while cache.snapshot is before and time.perf_counter() - t0 < 30:
            time.sleep(0.005)
        assert cache.snapshot is not before, "the cache did not notice the push"
        slot = cache.snapshot.next_slot[cache.snapshot.index[pid]]
        assert pd.isna(slot) or pd.Timestamp(slot) > pd.Timestamp(start)
    finally:
        cache._stop.set()
        push_booking(online.settings, practitioner_id=pid, start=start, status="cancelled",
                     store=online.store)


def test_the_cache_gives_named_candidates_in_the_order_asked(sqlite_online) -> None:  # type: ignore[no-untyped-def]
    # The cache is in-process: the store behind it does not matter.
    cache = _cache(sqlite_online)
    cache.refresh()
    snap = cache.snapshot
    ids = list(snap.index)
    order = list(reversed(ids))[: max(2, len(ids) // 2)]
    table, numeric = snap.rows(order)
    assert list(table.columns["practitioner_id"]) == order
    full_table, full_numeric = snap.all()
    rows = [snap.index[pid] for pid in order]
    assert torch.equal(numeric, full_numeric[rows])
    with pytest.raises(KeyError):
        snap.rows(["PR-NOT-THERE"])


def test_the_2000_candidate_cache_benchmark_reports_its_figures(sqlite_online) -> None:  # type: ignore[no-untyped-def]
    # The 2 ms bar is read from `regioncare bench features`, not asserted on a shared CI box.
    from benchmarks.features import cache_2000_p99_ms

    figures = cache_2000_p99_ms(_cache(sqlite_online), repeats=30)
    assert figures["candidate_cache_n"] == 2000
    for key in ("candidate_cache_p50_ms", "candidate_cache_p99_ms",
                "candidate_cache_gather_p50_ms", "candidate_cache_gather_p99_ms"):
        assert 0 < figures[key] < 1000, (key, figures)
    assert figures["candidate_cache_p50_ms"] <= figures["candidate_cache_p99_ms"]
