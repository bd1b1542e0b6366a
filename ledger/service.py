"""Open the whole ledger (chain client + access log) from the one settings object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.accesslog import AccessLog
from ledger.client import LedgerClient


def state_dir(settings: Any) -> Path:
    """Where the embedded ledger keeps its state: ``<home>/ledger``."""
    return Path(settings.home) / "ledger"


@dataclass
class Ledger:
    client: LedgerClient
    log: AccessLog

    def close(self) -> None:
        self.log.close()
        self.client.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_ledger(
    settings: Any,
    *,
    rpc_url: str | None = None,
    anchor_every: int = 1000,
    anchor_interval_s: float = 60.0,
    read_only: bool = False,
    durable: bool = True,
    path: Path | None = None,
) -> Ledger:
    """``rpc_url`` (new setting, default None = embedded chain): an EVM JSON-RPC endpoint.
    ``anchor_every`` / ``anchor_interval_s``: anchor the access log's root every N entries or
    T seconds. ``path`` overrides ``<home>/ledger``."""
    root = Path(path) if path is not None else state_dir(settings)
    client = LedgerClient.open(root, rpc_url=rpc_url, read_only=read_only, durable=durable)
    anchors = client.index.anchors()
    anchored = anchors[-1][1] if anchors else 0
    log_path = root / "access_log.sqlite"
    if read_only and not log_path.exists():
        from ledger.merkle import MerkleLog

        MerkleLog(log_path).close()  # an empty log is a valid log
    log = AccessLog(
        log_path,
        anchor=None if read_only else client.anchor_log,
        anchor_every=anchor_every,
        anchor_interval_s=anchor_interval_s,
        anchored_size=anchored,
        read_only=read_only,
    )
    return Ledger(client, log)
