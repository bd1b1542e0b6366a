"""The API's one handle on the ledger: opened once per state directory and process.

The embedded chain takes an exclusive lock, so every app of a process on the same
``<home>/ledger`` (tests build several; ``regioncare up`` indexes beside the API) shares one
:class:`LedgerAccess`; the last app to stop closes it. ``canRead`` answers are cached for a
few seconds: a grant or revoke made through this API clears the cache at once, one made by
another node is seen within ``CAN_READ_TTL_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collaboration_api.problems import Problem
from ledger.service import Ledger, open_ledger, state_dir
from regioncare.errors import UserError

CAN_READ_TTL_S = 5.0
CACHE_MAX = 20_000
log = logging.getLogger(__name__)


class LedgerAccess:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._ledger: Ledger | None = None
        self._open_lock = threading.Lock()
        self._users = 0
        self._cache: dict[tuple[bytes, str, str], tuple[bool, float]] = {}
        self._stop = threading.Event()
        self._indexer: threading.Thread | None = None

    @property
    def ledger(self) -> Ledger:
        """The open ledger; opened (deployed on a new state directory) on first use."""
        if self._ledger is None:
            with self._open_lock:
                if self._ledger is None:
                    try:
                        opened = open_ledger(self.settings)
                    except UserError as exc:  # e.g. held by another process
                        raise Problem(503, "Ledger unavailable", str(exc)) from None
                    opened.log.start_timer()  # anchor the access log even when idle
                    self._ledger = opened
        return self._ledger

    @property
    def is_open(self) -> bool:
        return self._ledger is not None

    def acquire(self) -> None:
        """An app starts: open now so the first request does not pay for it."""
        self._users += 1
        try:
            self.ledger  # noqa: B018 - opening is the point
        except Problem as exc:
            log.warning("ledger not opened at start-up: %s", exc.detail)

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.close()

    def can_read(self, key: bytes, *, reader: str, role: str) -> bool:
        """``canRead`` on chain, cached for ``CAN_READ_TTL_S`` seconds."""
        now = time.monotonic()
        hit = self._cache.get((key, reader, role))
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            allowed = self.ledger.client.can_read_key(key, reader=reader, role=role)
        except UserError:  # the reader is no institution on chain: nothing was granted
            allowed = False
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[(key, reader, role)] = (allowed, now + CAN_READ_TTL_S)
        return allowed

    def invalidate(self) -> None:
        self._cache.clear()

    def start_indexing(self, done: Callable[[Any, BaseException | None], None]) -> None:
        """Index the record stores in a background thread (``regioncare up``); ``done``
        gets the report or the error. Closing the ledger stops it between batches."""
        from ledger.indexer import index_stores

        def run() -> None:
            try:
                report = index_stores(
                    self.ledger.client, self.settings.records_dir, stop=self._stop
                )
            except BaseException as exc:  # noqa: BLE001 - reported, the API keeps serving
                done(None, exc)
            else:
                done(report, None)

        self._stop.clear()
        self._indexer = threading.Thread(target=run, name="ledger-indexer", daemon=True)
        self._indexer.start()

    def close(self) -> None:
        self._stop.set()
        if self._indexer is not None:
            self._indexer.join(timeout=60)
            self._indexer = None
        with self._open_lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
        self._cache.clear()


_REGISTRY: dict[Path, LedgerAccess] = {}
_REGISTRY_LOCK = threading.Lock()


def ledger_access(settings: Any) -> LedgerAccess:
    """The process's handle on ``<settings.home>/ledger`` (created, not yet opened)."""
    key = state_dir(settings).resolve()
    with _REGISTRY_LOCK:
        access = _REGISTRY.get(key)
        if access is None:
            access = _REGISTRY[key] = LedgerAccess(settings)
        return access
