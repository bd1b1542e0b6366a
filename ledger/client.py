"""The ledger client: one class, the same code on the embedded chain and on a consortium.

    client = LedgerClient.open(settings.home / "ledger")                  # embedded py-evm
    client = LedgerClient.open(state_dir, rpc_url="http://besu-h01:8545")  # consortium node

Institutions are accounts; each signs its own transactions with its own key (see
:mod:`ledger.keys`); the deployer (admin) registers institutions and anchors the access log.
Writes return once the transaction is mined (and, embedded, committed to disk).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eth_keys
from eth_account._utils.legacy_transactions import encode_transaction
from eth_account._utils.signing import serializable_unsigned_transaction_from_dict
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger import ecc, ids
from ledger.chain import CALLER as chain_caller
from ledger.chain import open_embedded, open_rpc
from ledger.contract import compiled
from ledger.index import EventIndex
from ledger.keys import Keyring
from regioncare.errors import UserError

INSTITUTION_FUNDING = 10**24  # wei given to a new institution for gas (embedded chain)
BATCH_MAX = 100  # records per register_many transaction
CALLER = Web3.to_checksum_address(chain_caller)


class LedgerError(Exception):
    """The chain refused or could not process a transaction."""


class NotAllowed(UserError):
    """The contract refused: the caller lacks the right (e.g. not the holder or home)."""


@dataclass(frozen=True)
class RecordEntry:
    record_key: bytes
    patient: bytes
    holder: str
    record_class: int
    level: int
    sha256: bytes
    version: int
    time: int


@dataclass(frozen=True)
class RecordIn:
    """One record to register: the holder's local id, never its content."""

    record_id: str
    patient: bytes | str
    sha256: bytes | str
    record_class: str | int = "Other"
    level: int = 1


class LedgerClient:
    def __init__(
        self,
        w3: Web3,
        contract: Any,
        keyring: Keyring,
        index: EventIndex,
        *,
        state_dir: Path,
        backend: Any = None,
        read_only: bool = False,
        lock_fd: int | None = None,
    ) -> None:
        self.w3 = w3
        self.contract = contract
        self.keyring = keyring
        self.index = index
        self.state_dir = state_dir
        self.backend = backend
        self.read_only = read_only
        self._lock_fd = lock_fd
        self._nonces: dict[str, int] = {}
        self._keys: dict[str, Any] = {}
        # py-evm is not thread-safe: one chain operation at a time (API worker threads)
        self.lock = threading.RLock()
        self._chain_id = w3.eth.chain_id
        # eth-tester wants a sender on calls; views do not depend on it
        w3.eth.default_account = CALLER
        self._legacy_gas_price: int | None = None
        if backend is None:
            price = w3.eth.gas_price
            self._legacy_gas_price = price if price == 0 else None
        self._bind(contract)

    def _bind(self, contract: Any) -> None:
        self.contract = contract
        self._events = {
            e.event_name: e
            for e in (
                contract.events.RecordRegistered(),
                contract.events.GrantChanged(),
                contract.events.LogAnchored(),
                contract.events.HomeSet(),
                contract.events.InstitutionAdded(),
            )
        }
        self._topics: dict[bytes, str] = {
            bytes(Web3.keccak(text=_signature(e))): name for name, e in self._events.items()
        }

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        rpc_url: str | None = None,
        durable: bool = True,
        read_only: bool = False,
        w3: Web3 | None = None,
    ) -> LedgerClient:
        """Open (creating and deploying on first use) the ledger kept in ``state_dir``.

        ``rpc_url``: an EVM JSON-RPC endpoint instead of the embedded chain. ``read_only``:
        reads only, no lock taken, so a verifier can run beside the writing process.
        ``w3``: an already connected Web3, treated exactly like a remote node.
        """
        state_dir = Path(state_dir)
        if read_only and not (state_dir / "deployment.json").exists():
            raise UserError(f"no ledger at {state_dir} (nothing deployed yet)")
        state_dir.mkdir(parents=True, exist_ok=True)
        keyring = Keyring(state_dir / "keys.json")
        lock_fd = None if read_only else _lock(state_dir / "ledger.lock")
        try:
            backend = None
            if w3 is not None:
                pass
            elif rpc_url:
                w3 = open_rpc(rpc_url)
            else:
                admin = keyring.admin(create=not read_only)
                w3, backend = open_embedded(
                    state_dir / "chain.sqlite",
                    bytes.fromhex(admin.address[2:]),
                    durable=durable,
                    read_only=read_only,
                )
            artefact = compiled(state_dir / "compiled")
            deployment = _read_json(state_dir / "deployment.json")
            index = EventIndex(state_dir / "events.sqlite", read_only=read_only)
            address = deployment.get("address")
            if address and w3.eth.get_code(address) in (b"", None):
                raise UserError(
                    f"no contract at {address} on this chain; "
                    f"remove {state_dir / 'deployment.json'} to deploy afresh"
                )
            contract = w3.eth.contract(address=address, abi=artefact["abi"]) if address else None
            client = cls(
                w3,
                contract or w3.eth.contract(abi=artefact["abi"]),
                keyring,
                index,
                state_dir=state_dir,
                backend=backend,
                read_only=read_only,
                lock_fd=lock_fd,
            )
            if not address:
                client._deploy(artefact)
            elif not read_only:
                client.sync()
            return client
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise

    def close(self) -> None:
        self.index.close()
        if self.backend is not None:
            self.backend.kv.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _deploy(self, artefact: dict[str, Any]) -> None:
        admin = self.keyring.admin(create=True)
        receipt = self._send(
            admin, None, bytes.fromhex(artefact["bytecode"].removeprefix("0x")), gas=3_000_000
        )
        address = receipt["contractAddress"]
        self._bind(self.w3.eth.contract(address=address, abi=artefact["abi"]))
        _write_json(
            self.state_dir / "deployment.json",
            {
                "address": address,
                "chain_id": self._chain_id,
                "source_sha256": artefact["source_sha256"],
                "block": receipt["blockNumber"],
            },
        )
        self.index.mark_block(receipt["blockNumber"])
        self.index.commit()

    # -- transactions -------------------------------------------------------------------
    def _send(
        self, account: LocalAccount, to: str | None, data: bytes, *, gas: int, value: int = 0
    ) -> Any:
        with self.lock:
            return self._send_locked(account, to, data, gas=gas, value=value)

    def _writable(self) -> None:
        if self.read_only:
            raise UserError("the ledger was opened read-only")

    def _send_locked(
        self, account: LocalAccount, to: str | None, data: bytes, *, gas: int, value: int = 0
    ) -> Any:
        self._writable()
        address = account.address
        if address not in self._nonces:
            self._nonces[address] = self.w3.eth.get_transaction_count(address, "pending")
        tx: dict[str, Any] = {
            "nonce": self._nonces[address],
            "chainId": self._chain_id,
            "gas": gas,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        if self._legacy_gas_price is not None:
            tx["gasPrice"] = self._legacy_gas_price
        elif self.backend is not None:
            # legacy (type 0): py-evm recovers a typed transaction's sender twice
            tx["gasPrice"] = 10**10
        else:
            price = self.w3.eth.gas_price
            tx["maxFeePerGas"] = 2 * price + 1
            tx["maxPriorityFeePerGas"] = min(price, 10**9) or 1
        raw = self._sign(account, tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - nonce state is unknown after a refusal
            self._nonces.pop(address, None)
            raise LedgerError(f"transaction refused: {exc}") from exc
        self._nonces[address] += 1
        if self.backend is not None:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        else:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        self._index_receipt(receipt)
        if receipt["status"] != 1:
            raise NotAllowed(self._revert_reason(tx, address) or "transaction reverted")
        return receipt

    def _sign(self, account: LocalAccount, tx: dict[str, Any]) -> bytes:
        """Sign; on the embedded chain also tell the memo ECC backend who signed."""
        if self.backend is None:
            return bytes(account.sign_transaction(tx).raw_transaction)
        key = self._keys.get(account.address)
        if key is None:
            key = self._keys[account.address] = eth_keys.keys.PrivateKey(account.key)
        unsigned = serializable_unsigned_transaction_from_dict(tx)
        msg_hash = unsigned.hash()
        sig = key.sign_msg_hash(msg_hash)
        ecc.seed(msg_hash, sig, key.public_key)
        v = sig.v + 35 + 2 * self._chain_id if "gasPrice" in tx else sig.v
        return bytes(encode_transaction(unsigned, vrs=(v, sig.r, sig.s)))

    def _revert_reason(self, tx: dict[str, Any], sender: str) -> str | None:
        call: dict[str, Any] = {k: tx[k] for k in ("to", "data", "value") if k in tx}
        call["from"] = sender
        try:
            self.w3.eth.call(call)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the reason is in the message
            text = str(exc)
            return text.split("execution reverted: ")[-1].strip("'\" ") or text
        return None

    def _call_tx(self, account: LocalAccount, fn: str, args: Sequence[Any], *, gas: int) -> Any:
        data = bytes.fromhex(self.contract.encode_abi(fn, list(args))[2:])
        return self._send(account, self.contract.address, data, gas=gas)

    def _index_receipt(self, receipt: Any) -> None:
        for log in receipt["logs"]:
            self._apply_log(log)
        block = receipt["blockNumber"]
        # Embedded, this process is the only writer: every block up to here is ours and
        # indexed. On a shared chain other nodes' blocks may lie in between: the mark moves
        # only over contiguous blocks, and sync() replays the rest in order (idempotent).
        if self.backend is not None or block == self.index.last_block + 1:
            self.index.mark_block(block)
        self.index.commit()

    def _apply_log(self, log: Any) -> None:
        if not log["topics"] or log["address"] != self.contract.address:
            return
        name = self._topics.get(bytes(log["topics"][0]))
        if name is None:
            return
        event = self._events[name].process_log(log)
        self.index.apply(name, dict(event["args"]), log["blockNumber"], log["logIndex"])

    def sync(self) -> int:
        """Index whatever the chain has beyond the index (crash gap, other nodes' writes)."""
        with self.lock:
            return self._sync()

    def _sync(self) -> int:
        head = self.w3.eth.block_number
        start = self.index.last_block + 1
        applied = 0
        step = 2_000
        for lo in range(start, head + 1, step):
            hi = min(head, lo + step - 1)
            for log in self.w3.eth.get_logs(
                {"address": self.contract.address, "fromBlock": lo, "toBlock": hi}
            ):
                self._apply_log(log)
                applied += 1
            self.index.mark_block(hi)
            self.index.commit()
        return applied

    # -- institutions -------------------------------------------------------------------
    def add_institution(self, code: str, address: str | None = None) -> str:
        """Register an institution's account (admin only). Without ``address`` its key is
        created here (embedded default); on a consortium each hospital creates its own key
        and gives the admin only its address."""
        raw = ids.institution_code(code)
        if address is None:
            address = self.keyring.account(code, create=True).address
        address = Web3.to_checksum_address(address)
        known = self.contract.functions.institution_code(address).call()
        if known == raw:
            return address
        admin = self.keyring.admin()
        if self._legacy_gas_price is None:  # gas costs something here: fund the account
            if self.w3.eth.get_balance(address) < INSTITUTION_FUNDING // 2:
                self._send(admin, address, b"", gas=21_000, value=INSTITUTION_FUNDING)
        self._call_tx(admin, "add_institution", [address, raw], gas=120_000)
        return address

    def address_of(self, code: str) -> str:
        return (
            self.keyring.account(code).address
            if self.keyring.has(code)
            else self._address_from_index(code)
        )

    def _address_from_index(self, code: str) -> str:
        address = self.index.institutions().get(code)
        if address is None:
            raise UserError(f"unknown institution {code!r}")
        return address

    def institutions(self) -> dict[str, str]:
        """code -> account address, as registered on chain."""
        return self.index.institutions()

    # -- patients and records -----------------------------------------------------------
    def set_home(self, institution: str, patient: bytes | str, home: str | None = None) -> None:
        """Make ``home`` (default: the caller) the patient's home institution."""
        target = self.address_of(home or institution)
        self._call_tx(
            self.keyring.account(institution),
            "set_home",
            [ids.pseudonym(patient), target],
            gas=120_000,
        )

    def home_of(self, patient: bytes | str) -> str | None:
        with self.lock:
            address = self.contract.functions.home_of(ids.pseudonym(patient)).call()
        return None if int(address, 16) == 0 else address

    def register_record(self, institution: str, record: RecordIn) -> bytes:
        """Register (or supersede, if the caller already holds it) one record; returns its
        opaque on-chain key."""
        self._writable()
        key, args = self._record_args(institution, record)
        with self.lock:
            # the local id first: a crash after the block then leaves no unnamed record
            self.index.add_local_ids([(key, institution, record.record_id)])
            self.index.commit()
            self.register_key(institution, key, *args)
        return key

    def register_key(
        self,
        institution: str,
        key: bytes,
        patient: bytes | str,
        record_class: str | int,
        level: int,
        sha256: bytes | str,
    ) -> None:
        """Register or supersede by on-chain key (the contract checks who holds it)."""
        self._call_tx(
            self.keyring.account(institution),
            "register",
            [
                ids.bytes32(key, "record key"),
                ids.pseudonym(patient),
                ids.coded(ids.RECORD_CLASSES, record_class, "record class"),
                ids.level(level),
                ids.digest(sha256),
            ],
            gas=400_000,
        )

    supersede_record = register_record

    def register_records(self, institution: str, records: Iterable[RecordIn]) -> int:
        """Register many records, up to ``BATCH_MAX`` per transaction; returns the count."""
        self._writable()
        account = self.keyring.account(institution)
        batch: list[tuple[bytes, tuple[bytes, int, int, bytes], str]] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if not batch:
                return
            cols = list(zip(*[(k, *a) for k, a, _ in batch], strict=True))
            with self.lock:
                self.index.add_local_ids([(k, institution, rid) for k, _, rid in batch])
                self.index.commit()
                self._call_tx(
                    account,
                    "register_many",
                    [list(c) for c in cols],
                    gas=80_000 + 220_000 * len(batch),
                )
            done += len(batch)
            batch.clear()

        for record in records:
            key, args = self._record_args(institution, record)
            batch.append((key, args, record.record_id))
            if len(batch) >= BATCH_MAX:
                flush()
        flush()
        return done

    def _record_args(
        self, institution: str, record: RecordIn
    ) -> tuple[bytes, tuple[bytes, int, int, bytes]]:
        key = ids.record_key(institution, record.record_id)
        return key, (
            ids.pseudonym(record.patient),
            ids.coded(ids.RECORD_CLASSES, record.record_class, "record class"),
            ids.level(record.level),
            ids.digest(record.sha256),
        )

    def expected_sha256(self, holder: str, record_id: str) -> bytes | None:
        """The SHA-256 the chain holds for a record, from the event index (fast path of a
        read: compare the holder's bytes with this before returning them)."""
        row = self.index.record(ids.record_key(holder, record_id))
        return None if row is None else bytes(row["sha256"])

    def get_record(self, holder: str, record_id: str) -> RecordEntry | None:
        """The record's entry as the contract holds it now (a chain read)."""
        return self.get_record_by_key(ids.record_key(holder, record_id))

    def get_record_by_key(self, key: bytes) -> RecordEntry | None:
        with self.lock:
            row = self.contract.functions.records(key).call()
        patient, holder, record_class, lvl, sha, version, t = row
        if int(holder, 16) == 0:
            return None
        return RecordEntry(key, bytes(patient), holder, record_class, lvl, bytes(sha), version, t)

    # -- grants -------------------------------------------------------------------------
    def grant(
        self,
        home: str,
        *,
        patient: bytes | str,
        grantee: str,
        role: str | int,
        max_level: int,
        purpose: str | int,
        expiry: int,
        consent: bytes | str,
    ) -> None:
        """Grant ``grantee``'s ``role`` reading up to ``max_level`` until ``expiry`` (unix s),
        recording the hash of the patient's consent; only the patient's home may do this."""
        self._call_tx(
            self.keyring.account(home),
            "grant",
            [
                ids.pseudonym(patient),
                self.address_of(grantee),
                ids.coded(ids.ROLES, role, "role"),
                ids.level(max_level),
                ids.coded(ids.PURPOSES, purpose, "purpose"),
                int(expiry),
                ids.bytes32(consent, "consent hash"),
            ],
            gas=200_000,
        )

    def revoke(
        self,
        home: str,
        *,
        patient: bytes | str,
        grantee: str,
        role: str | int,
        consent: bytes | str,
    ) -> None:
        self._call_tx(
            self.keyring.account(home),
            "revoke",
            [
                ids.pseudonym(patient),
                self.address_of(grantee),
                ids.coded(ids.ROLES, role, "role"),
                ids.bytes32(consent, "consent hash"),
            ],
            gas=120_000,
        )

    def grants_of(self, patient: bytes | str) -> list[dict[str, Any]]:
        """The patient's grants from the event index, decoded: ``{id, grantee, role,
        max_level, purpose, expiry, consent (hex), active}`` (inactive ones included)."""
        patient = ids.pseudonym(patient)
        with self.lock:
            codes = {addr: code for code, addr in self.index.institutions().items()}
            rows = self.index.grants_for(patient)
        out = []
        for g in rows:
            grantee = codes.get(g["grantee"], g["grantee"])
            out.append(
                {
                    "id": ids.grant_id(patient, grantee, g["role"]),
                    "grantee": grantee,
                    "role": ids.name_of(ids.ROLES, g["role"]),
                    "max_level": g["max_level"],
                    "purpose": ids.name_of(ids.PURPOSES, g["purpose"]),
                    "expiry": g["expiry"],
                    "consent": bytes(g["consent"]).hex(),
                    "active": bool(g["active"]),
                }
            )
        return sorted(out, key=lambda g: (g["grantee"], g["role"]))

    def home_code(self, patient: bytes | str) -> str | None:
        """The institution code of the patient's home, or None before any claim."""
        patient = ids.pseudonym(patient)
        with self.lock:
            address = self.index.home(patient)
            codes = {addr: code for code, addr in self.index.institutions().items()}
        return None if address is None else codes.get(address, address)

    def can_read(self, *, holder: str, record_id: str, reader: str, role: str | int) -> bool:
        return self.can_read_key(ids.record_key(holder, record_id), reader=reader, role=role)

    def can_read_key(self, key: bytes, *, reader: str, role: str | int) -> bool:
        fn = self.contract.functions.canRead(
            ids.bytes32(key, "record key"),
            self.address_of(reader),
            ids.coded(ids.ROLES, role, "role"),
        )
        with self.lock:
            return bool(fn.call())

    # -- access-log anchors -------------------------------------------------------------
    def anchor_log(self, size: int, root: bytes) -> int:
        """Write the access log's size and root on chain (admin); returns the anchor index."""
        receipt = self._call_tx(
            self.keyring.admin(),
            "anchor_log",
            [int(size), ids.bytes32(root, "log root")],
            gas=150_000,
        )
        return int(receipt["blockNumber"])

    def anchors(self) -> list[tuple[int, bytes]]:
        """Every anchored (size, root), oldest first, read from the contract."""
        fn = self.contract.functions
        out = []
        with self.lock:
            for i in range(fn.anchor_count().call()):
                size, root, _t = fn.anchors(i).call()
                out.append((int(size), bytes(root)))
        return out

    # -- embedded chain only ------------------------------------------------------------
    def chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def time_travel(self, to_timestamp: int) -> None:
        """Move the embedded chain's clock forward (tests of expiry)."""
        if self.backend is None:
            raise UserError("time travel exists only on the embedded chain")
        self.backend.time_travel(int(to_timestamp))


def _signature(event: Any) -> str:
    abi = event.abi
    return f"{abi['name']}({','.join(i['type'] for i in abi['inputs'])})"


def _lock(path: Path) -> int:
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UserError(f"the ledger at {path.parent} is open in another process") from None
    return fd


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"unreadable {path}: {exc}") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
