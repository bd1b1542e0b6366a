"""The referral recommender as a plain class: tests use it without Ray, Serve wraps it.

It holds the champion model and a cache of every candidate's features (one online-store
read per refresh, not per request); a request reads one patient row. If the model or the
online store is unavailable it answers with the rule baseline and ``degraded: true``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from prometheus_client import Counter, Gauge, Histogram

from models.baselines import specialty_rule_scores
from models.referral import CandidateTable, encode
from models.referral.encoding import CANDIDATE_COLUMNS, haversine_km
from models.referral.explain import Reason, contributions, phrase, top_reasons, words
from regioncare.settings import Settings
from serving.schemas import (
    Phrase,
    RecommendItem,
    RecommendRequest,
    RecommendResponse,
    ShadowRanking,
)
from training.referral_data import (
    PATIENT_VIEW,
    PRACTITIONER_VIEW,
    SERVICE,
    candidate_universe,
)

log = logging.getLogger("regioncare.serving")

LATENCY = Histogram("regioncare_recommend_seconds", "Recommendation latency in the predictor",
                    ["model_version", "degraded"],
                    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
DEGRADED = Counter("regioncare_recommend_degraded_total", "Answers given by the rule fallback")
MODEL_VERSION = Gauge("regioncare_recommend_model_version", "Champion version being served")
STORE_BREAKER_OPEN = Gauge("regioncare_online_store_breaker_open",
                           "1 while patient lookups skip an online store found unavailable")


AVAILABILITY_VIEW = "practitioner_availability_fv"
# Read beside the service's patient view: training derives it from the referrals table.
CONTINUITY_VIEW = "patient_continuity_fv"
CONTINUITY_REF = f"{CONTINUITY_VIEW}:seen_practitioners"
NUMERIC_CANDIDATE_COLUMNS = tuple(c for c in CANDIDATE_COLUMNS if c not in (
    "practitioner_id", "institution_id", "specialty", "sub_specialty", "region"))


# English wording of the notes; the console words the same codes (``note.<code>``).
NOTE_WORDING = {
    "travel_not_applied": "travel limit {km} km not applied: the patient's home region is "
                          "unknown",
    "travel_left_out": "{left_out} of {candidates} candidates are farther than {km} km and "
                       "were left out",
}


def travel_limit(req: RecommendRequest, home_known: bool, distance: np.ndarray
                 ) -> tuple[np.ndarray | None, list[Phrase]]:
    """Which candidates the patient's travel limit keeps (None: all), and a note saying so.
    Without a known home region distance means nothing, so the limit is not applied."""
    limit = req.max_travel_km
    if limit is None:
        return None, []
    if not home_known:
        return None, [Phrase(code="travel_not_applied", values={"km": f"{limit:g}"})]
    within = np.asarray(distance) <= limit
    return within, [Phrase(code="travel_left_out",
                           values={"left_out": int((~within).sum()),
                                   "candidates": len(within), "km": f"{limit:g}"})]


def worded(notes: list[Phrase]) -> dict[str, Any]:
    """A response's notes: the English sentences and their codes."""
    return {"notes": [NOTE_WORDING[n.code].format(**n.values) for n in notes],
            "note_codes": notes}


def top_k(scores: np.ndarray, k: int, keep: np.ndarray | None) -> np.ndarray:
    """The k best-scored candidates among those kept (ties: the earlier candidate)."""
    order = np.argsort(-scores, kind="stable")
    return (order if keep is None else order[keep[order]])[:k]


def _score(bundle: Any, patient: dict[str, Any], request: dict[str, Any],
           cands: CandidateTable) -> tuple[Any, np.ndarray]:
    """One referral's candidates encoded with the bundle's own spec, and its model's scores."""
    batch = encode(bundle.spec, [patient], [request], [cands])
    with torch.no_grad():
        return batch, bundle.model(batch.query, batch.cand, batch.numeric)[0].numpy()


def seen_practitioners(req: RecommendRequest, patient: dict[str, Any]) -> list[str]:
    """Continuity of care: specialists who took the patient on through the platform (sent
    by the API, most recent first), then those of the hospitals' own records (the
    "|"-joined list of ``patient_continuity_fv``, online)."""
    recorded = patient.get("seen_practitioners") or ""
    online = [s for s in recorded.split("|") if s] if isinstance(recorded, str) else []
    return list(dict.fromkeys([*req.seen_practitioners, *online]))


@dataclass(frozen=True)
class CandidateSnapshot:
    """Every candidate's features at one online-store version, as arrays and one tensor."""

    table: CandidateTable
    next_slot: np.ndarray
    numeric: torch.Tensor  # [n_candidates, len(NUMERIC_CANDIDATE_COLUMNS)] float32
    index: dict[str, int]
    marker: int
    loaded_at: float
    source: str  # online | offline

    def all(self) -> tuple[CandidateTable, torch.Tensor]:
        """Every candidate's features as they are held: no copy, no IO (a request's read)."""
        return self.table, self.numeric

    def rows(self, practitioner_ids: list[str]) -> tuple[CandidateTable, torch.Tensor]:
        """Features of the given candidates, in that order (unknown ids raise KeyError)."""
        idx = np.fromiter((self.index[p] for p in practitioner_ids), dtype=np.int64,
                          count=len(practitioner_ids))
        # Gather in numpy: torch's indexing pays thread-pool overhead on a busy machine.
        return self.table.take(idx), torch.from_numpy(self.numeric.numpy()[idx])


class CandidateCache:
    """Candidate (practitioner) features held in the serving process.

    ``refresh()`` reads all candidates from the online store in one batched call per view
    (profile + live availability; the live ``next_open_slot`` supersedes the snapshot's
    ``next_free_slot``). A watcher polls the online marker (one ``stat``) that
    ``features.store.materialize`` and ``features.push`` touch, and reloads when it moves,
    so a request reads the current snapshot without any IO.
    """

    def __init__(self, settings: Settings, *, store: Callable[[], Any],
                 ids: Callable[[], list[str]],
                 offline_rows: Callable[[list[str]], dict[str, list[Any]]],
                 on_load: Callable[[CandidateSnapshot], None] | None = None,
                 stop: threading.Event | None = None, poll_s: float | None = None) -> None:
        self.settings = settings
        self._store, self._ids, self._offline_rows = store, ids, offline_rows
        self._on_load = on_load
        self._stop = stop or threading.Event()
        self.poll_s = settings.candidate_cache_poll_s if poll_s is None else poll_s
        self.snapshot: CandidateSnapshot | None = None
        self.error: str | None = None
        self.refreshes = 0
        self._refresh_lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def refresh(self) -> int:
        from features.store import online_marker

        with self._refresh_lock:
            marker = online_marker(self.settings)  # read first: a later change reloads again
            ids = self._ids()
            rows, source = self._online(ids), "online"
            if rows is None:
                rows, source = self._offline_rows(ids), "offline"
            snap = self._build(ids, rows, marker, source)
            self.snapshot = snap
            self.refreshes += 1
        if self._on_load is not None:
            self._on_load(snap)
        return len(snap.table)

    def _online(self, ids: list[str]) -> dict[str, list[Any]] | None:
        store = self._store()
        if store is None:
            return None
        from features.store import online_rows

        try:
            rows = online_rows(store, SERVICE, PRACTITIONER_VIEW, "practitioner_id", ids)
        except Exception as exc:
            self.error = f"online store unavailable: {exc}"
            log.warning(self.error)
            return None
        try:
            live = online_rows(store, SERVICE, AVAILABILITY_VIEW, "practitioner_id", ids)
            # A live row (counts present) wins even when it knows no free slot.
            rows["next_free_slot"] = [
                fresh if known is not None else old for fresh, known, old in zip(
                    live["next_open_slot"], live["free_slots_14d"], rows["next_free_slot"],
                    strict=True)]
        except Exception as exc:  # an older repo without the availability view
            log.info("no live availability: %s", exc)
        self.error = None
        return rows

    @staticmethod
    def _build(ids: list[str], rows: dict[str, list[Any]], marker: int,
               source: str) -> CandidateSnapshot:
        now = pd.Timestamp(datetime.now(UTC))
        nxt = pd.to_datetime(pd.Series(rows["next_free_slot"]), utc=True, errors="coerce")
        rows = dict(rows)
        rows["practitioner_id"] = ids
        rows["next_free_slot_days"] = ((nxt - now).dt.total_seconds() / 86400.0).tolist()
        table = CandidateTable.from_records({c: rows[c] for c in CANDIDATE_COLUMNS})
        numeric = torch.from_numpy(np.stack(
            [table.columns[c].astype(np.float32) for c in NUMERIC_CANDIDATE_COLUMNS], axis=1)
            if len(table) else np.zeros((0, len(NUMERIC_CANDIDATE_COLUMNS)), np.float32))
        return CandidateSnapshot(table=table, next_slot=nxt.to_numpy(), numeric=numeric,
                                 index={p: i for i, p in enumerate(ids)}, marker=marker,
                                 loaded_at=time.time(), source=source)

    def stale(self) -> bool:
        from features.store import online_marker

        snap = self.snapshot
        return snap is None or online_marker(self.settings) != snap.marker

    def start_watch(self) -> None:
        """Reload in the background whenever the online marker moves."""
        if self._watcher is not None or self.poll_s <= 0:
            return

        def watch() -> None:
            while not self._stop.wait(self.poll_s):
                try:
                    if self.stale():
                        self.refresh()
                except Exception as exc:  # keep serving the last snapshot
                    self.error = f"candidate refresh failed: {exc}"
                    log.warning(self.error)

        self._watcher = threading.Thread(target=watch, name="candidate-cache", daemon=True)
        self._watcher.start()


class StoreUnavailable(RuntimeError):
    pass


class StoreBreaker:
    """Keeps requests off an online store that is down.

    A lookup runs under a deadline. One that fails, or ``overruns_to_open`` in a row that
    overrun it, open the breaker: later requests degrade at once instead of each waiting out
    the client's reconnect back-off, and a background probe closes the breaker as soon as
    the store answers again. A single overrun (a pause on a busy machine) degrades only its
    own answer.
    """

    def __init__(self, lookup: Callable[[str], dict[str, Any]], *, deadline_s: float,
                 stop: threading.Event, probe_interval_s: float = 0.2,
                 overruns_to_open: int = 3) -> None:
        self._lookup = lookup
        self.deadline_s = deadline_s
        self.probe_interval_s = probe_interval_s
        self.overruns_to_open = overruns_to_open
        self.overruns = 0  # in a row
        self._stop = stop
        # A few workers: a lookup stuck in the client's retries holds one until it gives up.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="online-lookup")
        self._lock = threading.Lock()
        self.open_reason: str | None = None
        self.trips = 0

    def call(self, key: str) -> dict[str, Any]:
        reason = self.open_reason
        if reason is not None:
            raise StoreUnavailable(reason)
        future = self._pool.submit(self._lookup, key)
        try:
            row = future.result(timeout=self.deadline_s)
        except FutureTimeout:
            reason = f"online store gave no answer within {self.deadline_s * 1000:.0f} ms"
            with self._lock:
                self.overruns += 1
                trip = self.overruns >= self.overruns_to_open
            if trip:
                self._trip(reason, key)
            raise StoreUnavailable(reason) from None
        except Exception as exc:
            self._trip(f"online store unavailable: {str(exc).splitlines()[0]}", key)
            raise StoreUnavailable(self.open_reason or "online store unavailable") from exc
        self.overruns = 0
        return row

    def _trip(self, reason: str, key: str) -> None:
        with self._lock:
            if self.open_reason is not None:
                return
            self.open_reason = reason
            self.trips += 1
        STORE_BREAKER_OPEN.set(1)
        log.warning("%s; answering with the rule baseline until it is back", reason)
        threading.Thread(target=self._probe, args=(key,), name="online-probe",
                         daemon=True).start()

    def _probe(self, key: str) -> None:
        while not self._stop.wait(self.probe_interval_s):
            try:
                self._lookup(key)
            except Exception:
                continue
            with self._lock:
                self.open_reason, self.overruns = None, 0
            STORE_BREAKER_OPEN.set(0)
            log.info("online store answers again; model answers resume")
            return


class ReferralPredictor:
    def __init__(self, settings: Settings, *, reload_interval_s: float = 5.0) -> None:
        self.settings = settings
        self.reload_interval_s = reload_interval_s
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self.version: str | None = None
        self.bundle: Any = None
        self.shadow_version: str | None = None  # the challenger, scored in shadow
        self.shadow_bundle: Any = None
        self._kept: dict[str, Any] = {}  # model bundles by version: see _load_model
        self.model_error: str | None = None
        self.store: Any = None
        self.store_error: str | None = None
        self.candidates: CandidateTable | None = None
        self.next_slot: np.ndarray = np.asarray([])
        self._patient_refs: list[str] | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        torch.set_num_threads(1)  # one request is small; threads only add contention
        self.breaker = StoreBreaker(self._patient_row,
                                    deadline_s=settings.online_lookup_timeout_ms / 1000,
                                    stop=self._stop)
        self._open_store()
        self._warm_lookup()
        self._load_model()
        self.refresh_candidates()

    # -- loading -------------------------------------------------------------------------
    def _open_store(self) -> None:
        try:
            from features.store import open_store

            self.store = open_store(self.settings)
            self.store_error = None
        except Exception as exc:  # degrade, don't die: the rule baseline still answers
            self.store, self.store_error = None, f"feature store unavailable: {exc}"
            log.warning(self.store_error)

    def _warm_lookup(self) -> None:
        """One lookup at start-up: the first one resolves the service and opens connections,
        which would overrun a request's deadline."""
        if self.store is None:
            return
        try:
            self._patient_row("warm-up")
        except Exception as exc:  # the breaker deals with a store that stays down
            log.warning("online store lookup at start-up failed: %s", exc)

    def _load_model(self) -> None:
        from training.registry import CHALLENGER, CHAMPION, PREVIOUS, aliases

        pointers: dict[str, str] = {}  # every alias, from one registry read
        try:
            pointers = aliases(self.settings, self.settings.referral_model_name)
            version = pointers.get(CHAMPION)
            if version is None:
                raise LookupError("no champion registered")
            if version != self.version:
                bundle = self._bundle(version)
                with self._lock:  # swap model and version together
                    self.bundle, self.version = bundle, version
                MODEL_VERSION.set(float(version))
                log.info("serving %s version %s", self.settings.referral_model_name, version)
            self.model_error = None
        except Exception as exc:
            self.model_error = f"model unavailable: {exc}"
            log.warning(self.model_error)
        if pointers:  # (an unreadable registry changes nothing here)
            self._load_shadow(pointers.get(CHALLENGER) if self.settings.shadow_scoring
                              else None)
            # Keep what an alias move could switch to next: a promotion of the challenger or
            # a rollback then swaps without a load (which competes with requests for the CPU).
            wanted = {pointers.get(a) for a in (CHAMPION, PREVIOUS, CHALLENGER)} | {self.version}
            self._kept = {v: b for v, b in self._kept.items() if v in wanted}
        self._checked_at = time.monotonic()

    def _bundle(self, version: str) -> Any:
        """A version's model, kept from earlier or loaded from the registry now."""
        from training.registry import load_version

        if version not in self._kept:
            self._kept[version] = load_version(self.settings, self.settings.referral_model_name,
                                               version).bundle
        return self._kept[version]

    def _load_shadow(self, version: str | None) -> None:
        """Follow the challenger alias where it is not the champion; a challenger that
        cannot be loaded only stops the shadow, never the answers."""
        try:
            if version is None or version == self.version:
                with self._lock:
                    self.shadow_bundle, self.shadow_version = None, None
            elif version != self.shadow_version:
                bundle = self._bundle(version)
                with self._lock:
                    self.shadow_bundle, self.shadow_version = bundle, version
                log.info("scoring %s version %s in shadow", self.settings.referral_model_name,
                         version)
        except Exception as exc:
            with self._lock:
                self.shadow_bundle, self.shadow_version = None, None
            log.warning("challenger not scored in shadow: %s", exc)

    def maybe_reload(self) -> None:
        """Follow the champion alias: promotion or rollback reaches serving within seconds.

        With a watcher thread running this does nothing: requests never wait for a load.
        """
        if self._watcher is None and time.monotonic() - self._checked_at >= self.reload_interval_s:
            self._load_model()

    def start_watch(self) -> None:
        """Poll the registry in the background and swap the model when the alias moves."""
        if self._watcher is not None:
            return

        def watch() -> None:
            while not self._stop.wait(self.reload_interval_s):
                self._load_model()

        self._watcher = threading.Thread(target=watch, name="champion-watch", daemon=True)
        self._watcher.start()

    def stop_watch(self) -> None:
        self._stop.set()

    def refresh_candidates(self) -> int:
        """Load every candidate's latest features into the serving-side cache.

        The cache (``CandidateCache``) reads the online store (offline tables as fallback)
        and then watches the online marker that ``materialize`` and pushes touch, reloading
        in the background when it moves; ``self.candidates`` is swapped in one assignment.
        """
        cache: CandidateCache | None = getattr(self, "_candidate_cache", None)
        if cache is None:
            cache = CandidateCache(self.settings, store=lambda: self.store,
                                   ids=self._candidate_ids,
                                   offline_rows=self._offline_candidate_rows,
                                   on_load=self._install_candidates, stop=self._stop)
            self._candidate_cache = cache
        n = cache.refresh()
        if cache.error:
            self.store_error = cache.error
        cache.start_watch()
        return n

    def _install_candidates(self, snap: CandidateSnapshot) -> None:
        with self._lock:
            self.candidates, self.next_slot = snap.table, snap.next_slot

    def _candidate_ids(self) -> list[str]:
        # The same candidate universe the model was trained and evaluated on.
        return candidate_universe(self.settings).tolist()

    def _offline_candidate_rows(self, ids: list[str]) -> dict[str, list[Any]]:
        prac = pd.read_parquet(self.settings.offline_dir / "practitioners.parquet")
        latest = prac.sort_values("event_timestamp").groupby("practitioner_id").tail(1)
        latest = latest.set_index("practitioner_id").reindex(ids)
        return {c: latest[c].tolist() for c in latest.columns} | {"practitioner_id": ids}

    # -- answering -----------------------------------------------------------------------
    def _patient_row(self, patient_id: str) -> dict[str, Any]:
        if self._patient_refs is None:  # resolved once: the registry read costs ~5 ms
            from features.store import service_refs

            names = service_refs(self.store, SERVICE)[PATIENT_VIEW]
            refs = [f"{PATIENT_VIEW}:{n}" for n in names]
            # A region whose features were applied before the view existed has none: its
            # answers then miss the records' continuity rather than all failing.
            if CONTINUITY_VIEW in {fv.name for fv in self.store.list_feature_views()}:
                refs.append(CONTINUITY_REF)
            self._patient_refs = refs
        row = self.store.get_online_features(features=self._patient_refs,
                                             entity_rows=[{"patient_id": patient_id}]).to_dict()
        return {k: v[0] for k, v in row.items()}

    def warm_up(self) -> None:
        """One full answer before the replica takes traffic: the first forward pass and the
        first explanation are several times slower than the rest (lazy initialisation)."""
        try:
            self._recommend(RecommendRequest(patient_id="warm-up", diagnosis_code="I21.4"))
        except Exception as exc:  # a replica that cannot score fails its health check
            log.warning("warm-up answer failed: %s", exc)

    def recommend(self, req: RecommendRequest) -> RecommendResponse:
        started = time.perf_counter()
        result = self._recommend(req)
        LATENCY.labels(result.model_version or "none", str(result.degraded).lower()).observe(
            time.perf_counter() - started)
        if result.degraded:
            DEGRADED.inc()
        return result

    def _recommend(self, req: RecommendRequest) -> RecommendResponse:
        self.maybe_reload()
        with self._lock:
            bundle, version, cands, next_slot = (self.bundle, self.version, self.candidates,
                                                 self.next_slot)
            shadow = (self.shadow_bundle, self.shadow_version)
        if cands is None or len(cands) == 0:
            raise RuntimeError("no candidates loaded")
        degraded_reason = None
        patient: dict[str, Any] = {}
        if self.store is None:
            degraded_reason = self.store_error or "feature store unavailable"
        else:
            try:
                patient = self.breaker.call(req.patient_id)
            except StoreUnavailable as exc:
                degraded_reason = str(exc)
        if bundle is None:
            degraded_reason = degraded_reason or self.model_error or "no model"
        if degraded_reason is None:
            return self._rank(bundle, version, patient, req, cands, next_slot, shadow)
        return self._rule(req, patient, cands, next_slot, degraded_reason)

    def _rank(self, bundle: Any, version: str | None, patient: dict[str, Any],
              req: RecommendRequest, cands: CandidateTable, next_slot: np.ndarray,
              shadow: tuple[Any, str | None] = (None, None)) -> RecommendResponse:
        request = {"diagnosis_code": req.diagnosis_code, "urgency": req.urgency,
                   "origin_tier": req.origin_tier}
        patient = {**patient, "seen_practitioners": seen_practitioners(req, patient)}
        batch, scores = _score(bundle, patient, request, cands)
        distance = batch.raw[0, :, batch.names.index("distance_km")]
        within, notes = travel_limit(req, patient.get("home_region") in bundle.spec.regions,
                                     distance)
        top = top_k(scores, req.k, within)
        # (no candidate within a tight travel limit: an empty list, its note says why)
        contribs = contributions(bundle.model, batch, top) if len(top) else []
        items = []
        for rank, i in enumerate(top):
            c = cands.columns
            reasons = [phrase(g, raw=batch.raw[0, i], specialty=str(c["specialty"][i]),
                              diagnosis=req.diagnosis_code,
                              referrals_365d=float(c["referrals_received_365d"][i]),
                              names=batch.names)
                       for g in top_reasons(contribs[rank])]
            items.append(self._item(cands, int(i), float(scores[i]), reasons,
                                    next_slot, float(distance[i])))
        return RecommendResponse(model_version=version, degraded=False, items=items,
                                 **worded(notes),
                                 shadow=self._shadow(shadow, patient, request, req.k, cands,
                                                     within))

    @staticmethod
    def _shadow(shadow: tuple[Any, str | None], patient: dict[str, Any],
                request: dict[str, Any], k: int, cands: CandidateTable,
                within: np.ndarray | None) -> ShadowRanking | None:
        """The challenger's top k of the same candidates under the same travel limit."""
        bundle, version = shadow
        if bundle is None or version is None:
            return None
        try:
            _, scores = _score(bundle, patient, request, cands)
            ids = cands.columns["practitioner_id"]
            return ShadowRanking(model_version=version,
                                 practitioner_ids=[str(ids[i]) for i in top_k(scores, k, within)])
        except Exception as exc:  # the champion's answer stands without it
            log.warning("shadow scoring with version %s failed: %s", version, exc)
            return None

    def _rule(self, req: RecommendRequest, patient: dict[str, Any], cands: CandidateTable,
              next_slot: np.ndarray, why: str) -> RecommendResponse:
        c = cands.columns
        lat, lon = float(c["lat"].mean()), float(c["lon"].mean())
        home = None
        if self.bundle is not None:
            home = self.bundle.spec.regions.get(str(patient.get("home_region")))
            lat, lon = home or (lat, lon)
        scores = specialty_rule_scores(cands, diagnosis_code=req.diagnosis_code,
                                       origin_tier=req.origin_tier, patient_lat=lat,
                                       patient_lon=lon)
        distance = haversine_km(lat, lon, c["lat"], c["lon"])
        within, notes = travel_limit(req, home is not None, distance)
        top = top_k(scores, req.k, within)
        items = []
        for i in top:
            reasons: list[Reason] = [
                ("rule_specialty", {"specialty": str(c["specialty"][i]),
                                    "diagnosis": req.diagnosis_code}),
                ("distance", {"km": round(float(distance[i]))})]
            items.append(self._item(cands, int(i), float(scores[i]), reasons, next_slot,
                                    float(distance[i])))
        return RecommendResponse(model_version=None, degraded=True, degraded_reason=why,
                                 items=items, **worded(notes))

    @staticmethod
    def _item(cands: CandidateTable, i: int, score: float, reasons: list[Reason],
              next_slot: np.ndarray, distance: float) -> RecommendItem:
        c = cands.columns
        slot = next_slot[i] if len(next_slot) > i else None
        earliest = None if slot is None or pd.isna(slot) else pd.Timestamp(slot).isoformat()
        return RecommendItem(practitioner_id=str(c["practitioner_id"][i]),
                             institution_id=str(c["institution_id"][i]),
                             specialty=str(c["specialty"][i]), score=round(score, 5),
                             reasons=[words(code, values) for code, values in reasons],
                             reason_codes=[Phrase(code=code, values=values)
                                           for code, values in reasons],
                             earliest_slot=earliest,
                             distance_km=round(distance, 1))

    def health(self) -> dict[str, Any]:
        return {"model_version": self.version, "shadow_version": self.shadow_version,
                "model_error": self.model_error,
                "store_error": self.store_error or self.breaker.open_reason,
                "candidates": 0 if self.candidates is None else len(self.candidates),
                "checked": (datetime.now(UTC) - timedelta(
                    seconds=time.monotonic() - self._checked_at)).isoformat()}
