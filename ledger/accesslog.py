"""The access log: every cross-institution read (allowed or denied) as one Merkle leaf,
its root anchored on chain every ``anchor_every`` entries or ``anchor_interval_s`` seconds.

Entries are canonical JSON of opaque values only (institution codes, coded role and
purpose, the record's on-chain key, the decision, the time) - no patient data.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import ids
from ledger.merkle import MerkleLog, verify_consistency, verify_inclusion

Anchor = Callable[[int, bytes], Any]


def entry_bytes(
    *,
    reader: str,
    role: str | int,
    record_key: bytes,
    allowed: bool,
    purpose: str | int,
    at: float | None = None,
) -> bytes:
    doc = {
        "t": round(time.time() if at is None else at, 3),
        "reader": reader,
        "role": ids.coded(ids.ROLES, role, "role"),
        "purpose": ids.coded(ids.PURPOSES, purpose, "purpose"),
        "record": ids.bytes32(record_key, "record key").hex(),
        "allowed": bool(allowed),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class AccessLog:
    def __init__(
        self,
        path: Path,
        *,
        anchor: Anchor | None = None,
        anchor_every: int = 1000,
        anchor_interval_s: float = 60.0,
        anchored_size: int = 0,
        read_only: bool = False,
    ) -> None:
        """``anchor(size, root)`` writes an anchor (e.g. ``LedgerClient.anchor_log``);
        ``anchored_size``: the size of the latest anchor already on chain."""
        self.tree = MerkleLog(path, read_only=read_only)
        self._anchor = anchor
        self.anchor_every = anchor_every
        self.anchor_interval_s = anchor_interval_s
        self.anchored_size = anchored_size
        self._last_anchor_t = time.monotonic()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.tree.size

    def record(
        self,
        *,
        reader: str,
        role: str | int,
        record_key: bytes,
        allowed: bool,
        purpose: str | int = "treatment",
        at: float | None = None,
    ) -> int:
        """Log one read (or denial); returns its index. Anchors when due."""
        data = entry_bytes(
            reader=reader, role=role, record_key=record_key, allowed=allowed, purpose=purpose, at=at
        )
        with self._lock:
            index = self.tree.append(data)
        self.maybe_anchor()
        return index

    def append_raw(self, entries: list[bytes]) -> int:
        with self._lock:
            return self.tree.append_many(entries)

    def maybe_anchor(self, *, force: bool = False) -> bool:
        """Anchor the current root if N entries or T seconds have passed since the last."""
        if self._anchor is None:
            return False
        with self._lock:
            size = self.tree.size
            pending = size - self.anchored_size
            due = pending >= self.anchor_every or (
                pending > 0 and time.monotonic() - self._last_anchor_t >= self.anchor_interval_s
            )
            if not (due or (force and pending > 0)):
                return False
            root = self.tree.root(size)
            self._anchor(size, root)
            self.anchored_size = size
            self._last_anchor_t = time.monotonic()
            return True

    def start_timer(self) -> threading.Thread:
        """Anchor every ``anchor_interval_s`` even when no read arrives (daemon thread)."""
        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.wait(max(self.anchor_interval_s / 2, 0.05)):
                try:
                    self.maybe_anchor()
                except Exception:  # noqa: BLE001 - try again next tick
                    pass

        thread = threading.Thread(target=loop, name="access-log-anchor", daemon=True)
        thread.start()
        return thread

    def root(self, size: int | None = None) -> bytes:
        return self.tree.root(size)

    def inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        n = self.tree.size if size is None else size
        proof = self.tree.inclusion_proof(index, n)
        return {
            "index": index,
            "size": n,
            "leaf": self.tree.leaf(index).hex(),
            "root": self.tree.root(n).hex(),
            "proof": [p.hex() for p in proof],
        }

    def consistency(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        n = self.tree.size if new_size is None else new_size
        proof = self.tree.consistency_proof(old_size, n)
        return {
            "old_size": old_size,
            "new_size": n,
            "old_root": self.tree.root(old_size).hex(),
            "new_root": self.tree.root(n).hex(),
            "proof": [p.hex() for p in proof],
        }

    def close(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
        with self._lock:
            self.tree.close()


def check_inclusion(doc: dict[str, Any]) -> bool:
    """Verify an ``inclusion`` answer (e.g. fetched over HTTP) on its own terms."""
    try:
        return verify_inclusion(
            bytes.fromhex(doc["leaf"]),
            int(doc["index"]),
            int(doc["size"]),
            [bytes.fromhex(p) for p in doc["proof"]],
            bytes.fromhex(doc["root"]),
        )
    except (KeyError, ValueError, TypeError):
        return False


def check_consistency(doc: dict[str, Any]) -> bool:
    try:
        return verify_consistency(
            int(doc["old_size"]),
            int(doc["new_size"]),
            bytes.fromhex(doc["old_root"]),
            bytes.fromhex(doc["new_root"]),
            [bytes.fromhex(p) for p in doc["proof"]],
        )
    except (KeyError, ValueError, TypeError):
        return False
