"""RFC 9162 log: roots, proofs, and the rejection of every kind of corrupted proof."""

from __future__ import annotations

import os
import random

import pytest
from pymerkle import InmemoryTree

from ledger.accesslog import AccessLog, check_consistency, check_inclusion
from ledger.merkle import (
    MerkleLog,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    entries = [os.urandom(random.Random(i).randint(1, 50)) for i in range(140)]
    log = MerkleLog(tmp_path_factory.mktemp("merkle") / "log.sqlite")
    for e in entries[:30]:
        log.append(e)
    log.append_many(entries[30:])
    yield log, entries
    log.close()


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def test_roots_match_rfc9162_reference(log):
    tree, entries = log
    ref = InmemoryTree(algorithm="sha256")
    for n, e in enumerate(entries[:70], 1):
        ref.append_entry(e)
        assert tree.root(n) == ref.get_state(n) == root_of([leaf_hash(x) for x in entries[:n]])
    assert tree.root(0) == ref.get_state(0)


def test_every_valid_proof_verifies(log):
    tree, entries = log
    for n in range(1, 71):
        root = tree.root(n)
        for m in range(n):
            assert verify_inclusion(leaf_hash(entries[m]), m, n, tree.inclusion_proof(m, n), root)
        for m in range(1, n + 1):
            assert verify_consistency(m, n, tree.root(m), root, tree.consistency_proof(m, n))


@pytest.mark.parametrize(
    ("m", "n"), [(0, 1), (0, 2), (5, 8), (6, 7), (12, 13), (31, 64), (40, 70), (69, 70)]
)
def test_corrupted_inclusion_proofs_are_rejected(log, m, n):
    tree, entries = log
    leaf, proof, root = leaf_hash(entries[m]), tree.inclusion_proof(m, n), tree.root(n)
    assert verify_inclusion(leaf, m, n, proof, root)
    # index off by one, both ways
    assert not verify_inclusion(leaf, m + 1, n, proof, root)
    assert m == 0 or not verify_inclusion(leaf, m - 1, n, proof, root)
    # wrong tree size, both ways, each with the root of that size (a root is bound to its
    # size by the anchor; RFC 9162 paths alone can coincide, e.g. leaf 5 at sizes 7 and 8)
    for size in (n - 1, n + 1, 2 * n):
        assert not verify_inclusion(leaf, m, size, proof, tree.root(size))
    # wrong leaf (another entry, and the raw entry instead of its leaf hash)
    other = leaf_hash(entries[(m + 1) % len(entries)])
    assert not verify_inclusion(other, m, n, proof, root)
    assert not verify_inclusion(leaf_hash(entries[m] + b"x"), m, n, proof, root)
    # a flipped bit in any hash: each proof element, the leaf, the root
    for i in range(len(proof)):
        for bit in (0, 7, 128, 255):
            bad = list(proof)
            bad[i] = _flip(bad[i], bit)
            assert not verify_inclusion(leaf, m, n, bad, root)
    for bit in (0, 100, 255):
        assert not verify_inclusion(_flip(leaf, bit), m, n, proof, root)
        assert not verify_inclusion(leaf, m, n, proof, _flip(root, bit))
    # a hash added (anywhere) or removed (any one)
    for pos in range(len(proof) + 1):
        assert not verify_inclusion(leaf, m, n, proof[:pos] + [os.urandom(32)] + proof[pos:], root)
        assert not verify_inclusion(leaf, m, n, proof[:pos] + [leaf] + proof[pos:], root)
    for pos in range(len(proof)):
        assert not verify_inclusion(leaf, m, n, proof[:pos] + proof[pos + 1 :], root)
    # a truncated hash
    if proof:
        assert not verify_inclusion(leaf, m, n, [proof[0][:31]] + proof[1:], root)


@pytest.mark.parametrize(
    ("m", "n"),
    [(1, 2), (1, 8), (3, 7), (4, 8), (6, 8), (7, 13), (16, 70), (30, 64), (63, 64), (69, 70)],
)
def test_corrupted_consistency_proofs_are_rejected(log, m, n):
    tree, _entries = log
    old, new, proof = tree.root(m), tree.root(n), tree.consistency_proof(m, n)
    assert verify_consistency(m, n, old, new, proof)
    for mm, nn in ((m + 1, n), (m - 1, n), (m, n + 1), (m, n - 1), (m + 1, n + 1)):
        if 0 < mm <= nn <= tree.size and (mm, nn) != (m, n):
            assert not verify_consistency(mm, nn, tree.root(mm), tree.root(nn), proof), (mm, nn)
    assert not verify_consistency(m, n, tree.root(m - 1) if m > 1 else os.urandom(32), new, proof)
    assert not verify_consistency(m, n, old, tree.root(n - 1), proof)
    for i in range(len(proof)):
        for bit in (0, 9, 200, 255):
            bad = list(proof)
            bad[i] = _flip(bad[i], bit)
            assert not verify_consistency(m, n, old, new, bad)
    for bit in (0, 255):
        assert not verify_consistency(m, n, _flip(old, bit), new, proof)
        assert not verify_consistency(m, n, old, _flip(new, bit), proof)
    for pos in range(len(proof) + 1):
        assert not verify_consistency(m, n, old, new, proof[:pos] + [os.urandom(32)] + proof[pos:])
        assert not verify_consistency(m, n, old, new, proof[:pos] + [old] + proof[pos:])
    for pos in range(len(proof)):
        assert not verify_consistency(m, n, old, new, proof[:pos] + proof[pos + 1 :])


def test_proof_documents_and_persistence(tmp_path):
    anchored = []
    log = AccessLog(
        tmp_path / "a.sqlite",
        anchor=lambda s, r: anchored.append((s, r)),
        anchor_every=5,
        anchor_interval_s=3600,
    )
    key = os.urandom(32)
    for i in range(12):
        log.record(
            reader="H02",
            role="physician",
            record_key=key,
            allowed=i % 3 != 0,
            purpose="referral",
            at=1_700_000_000 + i,
        )
    assert [s for s, _ in anchored] == [5, 10]
    assert all(log.root(s) == r for s, r in anchored)
    doc = log.inclusion(3, 10)
    assert check_inclusion(doc)
    assert not check_inclusion({**doc, "index": 4})
    assert not check_inclusion({**doc, "proof": doc["proof"][:-1]})
    cdoc = log.consistency(5, 12)
    assert check_consistency(cdoc)
    assert not check_consistency({**cdoc, "old_size": 6})
    root = log.root()
    log.close()
    again = AccessLog(tmp_path / "a.sqlite")
    assert again.size == 12 and again.root() == root
    again.record(reader="H03", role="nurse", record_key=key, allowed=False)
    assert again.root(12) == root and again.size == 13
    assert b"H03" in again.tree.entry(12)
    again.close()


def test_time_based_anchoring(tmp_path):
    anchored = []
    log = AccessLog(
        tmp_path / "t.sqlite",
        anchor=lambda s, r: anchored.append(s),
        anchor_every=10_000,
        anchor_interval_s=0.0,
    )
    log.record(reader="H02", role=1, record_key=bytes(32), allowed=True)
    assert anchored == [1]
    assert not log.maybe_anchor()  # nothing new
    log.close()


def test_timer_anchors_without_new_reads(tmp_path):
    import time

    anchored = []
    log = AccessLog(
        tmp_path / "timer.sqlite",
        anchor=lambda s, r: anchored.append(s),
        anchor_every=10_000,
        anchor_interval_s=0.2,
    )
    log.start_timer()
    log.record(reader="H02", role=1, record_key=bytes(32), allowed=True)
    deadline = time.monotonic() + 5
    while not anchored and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    assert anchored == [1]
