"""Chains the ledger client talks to.

* embedded default: py-evm through eth-tester, its state in a SQLite key-value file that
  commits once per mined block (WAL, ``synchronous=FULL``): an acknowledged transaction
  is on disk before ``send_raw_transaction`` returns, and a process killed between blocks
  reopens at the last committed block;
* at scale: any EVM JSON-RPC endpoint (Hyperledger Besu with QBFT, one node per hospital),
  chosen by giving a URL.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from web3 import HTTPProvider, Web3

from ledger import ecc

GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z, fixed so a chain reopens the same
GAS_LIMIT = 30_000_000
# Enough ether for the deployer to fund every institution's gas for the chain's lifetime.
ADMIN_BALANCE = 10**30
# The sender of read-only calls (eth-tester charges a call's gas against its sender).
CALLER = bytes(19) + b"\x01"


class SqliteKV(BaseDB):
    """A py-evm key-value database in one SQLite file.

    Writes go into an open SQLite transaction and become durable on :meth:`commit`, which
    the embedded backend calls after every mined block; a crash in between rolls back to
    the last committed block, so the chain on disk is always a whole number of blocks.
    """

    def __init__(self, path: Path, *, durable: bool = True, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        # read-only: writes (py-evm's scratch state during calls) stay in this overlay
        self._cache: dict[bytes, bytes | None] = {}
        self._in_tx = False
        if read_only:
            self._conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
        )

    def _begin(self) -> None:
        if not self._in_tx:
            self._conn.execute("BEGIN")
            self._in_tx = True

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._cache:
            value = self._cache[key]
            if value is None:
                raise KeyError(key)
            return value
        row = self._conn.execute("SELECT v FROM kv WHERE k=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if self.read_only:
            self._cache[key] = value
            return
        self._begin()
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        if self.read_only:
            self._cache[key] = None
            return
        self._begin()
        self._conn.execute("DELETE FROM kv WHERE k=?", (key,))

    def commit(self) -> None:
        if self.read_only:
            return
        if self._in_tx:
            self._conn.execute("COMMIT")
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            self._conn.execute("ROLLBACK")
            self._in_tx = False

    def is_empty(self) -> bool:
        return self._conn.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is None

    def iter_items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every key and value (for audits such as the sentinel scan)."""
        for k, v in self._conn.execute("SELECT k, v FROM kv"):
            yield bytes(k), bytes(v)

    def close(self) -> None:
        self.rollback()
        self._conn.close()


def _chain_class() -> Any:
    """eth-tester's tester chain class (Prague, no proof of work), built once."""
    from eth_tester.backends.pyevm.main import setup_tester_chain

    _keys, chain = setup_tester_chain(num_accounts=1)
    return type(chain)


def _genesis_params() -> dict[str, Any]:
    from eth_tester.backends.pyevm.main import get_default_genesis_params

    params = get_default_genesis_params()
    params["timestamp"] = GENESIS_TIMESTAMP
    params["gas_limit"] = GAS_LIMIT
    return params


def open_embedded(
    path: Path, admin_address: bytes, *, durable: bool = True, read_only: bool = False
) -> tuple[Web3, Any]:
    """A web3 connected to a py-evm chain persisted in ``path``; also returns the backend.

    The admin account (the deployer) is funded in the genesis state; institutions get their
    gas from it when they are registered.
    """
    from eth_tester import EthereumTester
    from eth_tester.backends.pyevm.main import PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    # eth-keys' documented backend hook; set only if nobody chose a backend already
    os.environ.setdefault("ECC_BACKEND_CLASS", ecc.IMPORT_PATH)
    kv = SqliteKV(path, durable=durable, read_only=read_only)
    base_db = AtomicDB(kv)
    chain_class = _chain_class()
    if kv.is_empty():
        if read_only:
            raise FileNotFoundError(f"no chain in {path}")
        genesis_state = {
            address: {"balance": ADMIN_BALANCE, "nonce": 0, "code": b"", "storage": {}}
            for address in (admin_address, CALLER)
        }
        chain = chain_class.from_genesis(base_db, _genesis_params(), genesis_state)
        kv.commit()
    else:
        chain = chain_class(base_db)

    class DiskPyEVMBackend(PyEVMBackend):
        """PyEVMBackend over the disk database: one durable commit per mined block."""

        def __init__(self) -> None:  # noqa: D107 - no in-memory genesis
            self.account_keys = ()
            self.chain = chain
            self.kv = kv

        def mine_blocks(self, num_blocks: int = 1, coinbase: Any = None) -> tuple[bytes, ...]:
            kwargs = {} if coinbase is None else {"coinbase": coinbase}
            try:
                hashes = super().mine_blocks(num_blocks, **kwargs)
            except BaseException:
                kv.rollback()
                raise
            kv.commit()
            return hashes

        def time_travel(self, to_timestamp: int) -> int:
            self.chain.header = self.chain.header.copy(timestamp=(to_timestamp - 1))
            self.mine_blocks()
            return to_timestamp

    backend = DiskPyEVMBackend()
    tester = EthereumTester(backend=backend, auto_mine_transactions=True)
    provider = EthereumTesterProvider(ethereum_tester=tester)
    w3 = Web3(provider)
    return w3, backend


def open_rpc(url: str, *, timeout_s: float = 10.0) -> Web3:
    """A web3 connected to an EVM JSON-RPC node (e.g. the hospital's own Besu node)."""
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if w3.is_connected():
                return w3
        except Exception:  # noqa: BLE001 - a node still starting up
            pass
        if time.monotonic() > deadline:
            raise ConnectionError(f"no EVM JSON-RPC node answers at {url}")
        time.sleep(0.2)


def fsync_dir(path: Path) -> None:
    """Make a file's creation durable (its directory entry), where the OS allows it."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
