"""Verification: every indexed record's hash recomputed at its holder, and the access log
recomputed from its entries against the roots anchored on chain.

Records are reached through callables so that this module knows nothing about record
stores: ``list_records()`` yields ``(holder, record_id, body or None)`` for everything the
holders have, or ``fetch(holder, record_id)`` returns one record's bytes (or None).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import keccak

from ledger import ids
from ledger.merkle import MerkleLog, leaf_hash, node_hash

ListRecords = Callable[[], Iterable[tuple[str, str, bytes | None]]]
Fetch = Callable[[str, str], bytes | None]
Progress = Callable[[int], None]


@dataclass
class VerifyReport:
    records_checked: int = 0
    mismatches: list[dict[str, str]] = field(default_factory=list)
    log_consistent: bool = True
    unindexed: int = 0
    chain_checked: int = 0
    chain_block: int | None = None  # the block the index (and so this check) stands at
    log_size: int = 0
    anchors_checked: int = 0
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.log_consistent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(
    client: Any,
    *,
    list_records: ListRecords | None = None,
    fetch: Fetch | None = None,
    log: MerkleLog | None = None,
    chain_sample: int | None = 200,
    progress: Progress | None = None,
) -> VerifyReport:
    """Check records and the access log; problems are reported, not raised.

    ``client``: a :class:`ledger.client.LedgerClient`. Its event index gives the expected
    hashes; the whole index is checked against the chain by recomputing the contract's
    ``registry_digest`` (a running hash over every registration) and comparing one value at
    the index's block, plus the record count; ``chain_sample`` records (all if None) are
    also re-read from the contract one by one. ``chain_sample=0`` skips the chain checks.
    """
    if list_records is None and fetch is None:
        raise ValueError("give list_records or fetch")
    report = VerifyReport()
    _check_records(client, report, list_records, fetch, chain_sample, progress)
    if log is not None:
        check_log(log, client.anchors(), report)
    return report


def _check_records(
    client: Any,
    report: VerifyReport,
    list_records: ListRecords | None,
    fetch: Fetch | None,
    chain_sample: int | None,
    progress: Progress | None,
) -> None:
    index = client.index
    address_of = {addr: code for code, addr in index.institutions().items()}
    expected: dict[bytes, tuple[str, bytes, str | None, str | None]] = {
        key: (holder, bytes(sha), code, rid) for key, holder, sha, code, rid in index.iter_records()
    }

    def name(key: bytes) -> tuple[str, str]:
        holder, _sha, code, rid = expected[key]
        return (rid or "0x" + key.hex(), code or address_of.get(holder, holder))

    reported: set[tuple[str, str, str]] = set()

    def mismatch(record_id: str, holder: str, reason: str) -> None:
        if (record_id, holder, reason) not in reported:
            reported.add((record_id, holder, reason))
            report.mismatches.append({"record_id": record_id, "holder": holder, "reason": reason})

    seen: set[bytes] = set()
    if list_records is not None:
        for n, (holder, record_id, body) in enumerate(list_records(), 1):
            key = ids.record_key(holder, record_id)
            want = expected.get(key)
            if want is None:
                report.unindexed += 1
                continue
            seen.add(key)
            report.records_checked += 1
            _compare(want, holder, record_id, body, address_of, mismatch)
            if progress is not None and n % 1000 == 0:
                progress(n)
        for key in expected.keys() - seen:
            rid, holder = name(key)
            report.records_checked += 1
            mismatch(rid, holder, "missing at holder")
    else:
        assert fetch is not None
        for n, key in enumerate(expected, 1):
            rid, holder = name(key)
            report.records_checked += 1
            if expected[key][3] is None:
                mismatch(rid, holder, "local record id unknown to the index")
                continue
            _compare(expected[key], holder, rid, fetch(holder, rid), address_of, mismatch)
            if progress is not None and n % 1000 == 0:
                progress(n)

    # The index is our copy of the chain's events: compare it with the contract itself.
    if chain_sample == 0:
        return
    digest, latest = index_digest(index)
    at = index.last_block
    report.chain_block = at
    on_chain_digest = bytes(client.contract.functions.registry_digest().call(block_identifier=at))
    if on_chain_digest != digest:
        mismatch("*", "*", f"the index's registrations differ from the chain's (block {at})")
    for key, want in expected.items():
        if latest.get(key) != (want[0], want[1]):
            rid, holder = name(key)
            mismatch(rid, holder, "index differs from the chain")
    for key in latest.keys() - expected.keys():
        mismatch("0x" + key.hex(), latest[key][0], "on chain but missing from the index")
    on_chain = client.contract.functions.record_count().call(block_identifier=at)
    if on_chain != len(expected):
        mismatch("*", "*", f"index has {len(expected)} records, the contract {on_chain}")
    keys = list(expected)
    if chain_sample is not None and len(keys) > chain_sample:
        keys = random.sample(keys, chain_sample)
    for key in keys:
        entry = client.get_record_by_key(key)
        rid, holder = name(key)
        report.chain_checked += 1
        if entry is None:
            mismatch(rid, holder, "in the index but not on chain")
        elif entry.sha256 != expected[key][1] or entry.holder != expected[key][0]:
            mismatch(rid, holder, "index differs from the chain")


def index_digest(index: Any) -> tuple[bytes, dict[bytes, tuple[str, bytes]]]:
    """The contract's ``registry_digest`` recomputed from the index's registrations, and
    each record's latest (holder, sha256) according to them."""
    d = bytes(32)
    latest: dict[bytes, tuple[str, bytes]] = {}
    for key, patient, holder, record_class, level, sha, version in index.iter_registrations():
        d = keccak(
            d
            + key
            + patient
            + bytes(12)
            + bytes.fromhex(holder[2:])
            + record_class.to_bytes(32, "big")
            + level.to_bytes(32, "big")
            + sha
            + version.to_bytes(32, "big")
        )
        latest[key] = (holder, bytes(sha))
    return d, latest


def _compare(
    want: tuple[str, bytes, str | None, str | None],
    holder: str,
    record_id: str,
    body: bytes | None,
    address_of: dict[str, str],
    mismatch: Callable[[str, str, str], None],
) -> None:
    holder_addr, sha, _code, _rid = want
    if address_of.get(holder_addr, holder) != holder:
        mismatch(record_id, holder, "held by another institution on chain")
    elif body is None:
        mismatch(record_id, holder, "missing at holder")
    elif ids.sha256(body) != sha:
        mismatch(
            record_id,
            holder,
            f"sha256 {ids.sha256(body).hex()[:16]}... differs from chain {sha.hex()[:16]}...",
        )


def check_log(log: MerkleLog, anchors: list[tuple[int, bytes]], report: VerifyReport) -> None:
    """Recompute the log from its entries; compare the root at every anchored size."""
    problems = report.log_problems
    targets = sorted({size for size, _ in anchors})
    want: dict[int, set[bytes]] = {}
    for size, root in anchors:
        want.setdefault(size, set()).add(root)
    edge: list[tuple[int, bytes]] = []
    expected_idx = 0
    t = 0
    for idx, data in log.iter_entries():
        if idx != expected_idx:
            problems.append(f"entries {expected_idx}..{idx - 1} missing")
            expected_idx = idx
        h, level = leaf_hash(data), 0
        k = expected_idx
        while k & 1:
            h = node_hash(edge.pop()[1], h)
            level += 1
            k >>= 1
        edge.append((level, h))
        expected_idx += 1
        while t < len(targets) and targets[t] == expected_idx:
            root = edge[-1][1]
            for _lvl, left in reversed(edge[:-1]):
                root = node_hash(left, root)
            report.anchors_checked += 1
            if root not in want[expected_idx]:
                problems.append(f"root at anchored size {expected_idx} differs from the chain")
            if len(want[expected_idx]) > 1:
                problems.append(f"the chain anchors two roots for size {expected_idx}")
            t += 1
    report.log_size = expected_idx
    if t < len(targets):
        problems.append(
            f"log has {expected_idx} entries but the chain anchored size {targets[-1]} (truncated)"
        )
    report.log_consistent = not problems
