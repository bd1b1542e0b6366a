"""An append-only Merkle log with RFC 9162 (Certificate Transparency v2) hashing.

    leaf hash  = SHA-256(0x00 || entry)
    node hash  = SHA-256(0x01 || left || right)
    MTH(D[n])  splits at the largest power of two strictly below n

Every perfect, aligned subtree is stored once (level, index) when it completes, so a root,
an inclusion proof or a consistency proof for any tree size reads O(log n) stored hashes in
one query. Entries are kept beside their hashes so that a verifier can recompute the whole
log. Proof producers and verifiers follow RFC 9162 sections 2.1.3 and 2.1.4.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

_sha256 = hashlib.sha256
_SHIFT = 48  # node id = level << 48 | index


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (in memory; used by verifiers that recompute everything)."""
    if not leaf_hashes:
        return _sha256(b"").digest()
    level = list(leaf_hashes)
    # Bottom-up pairing yields the RFC 9162 tree: an odd node is promoted unchanged.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# -- proof shapes (which subtrees a proof needs), independent of storage ---------------
def _inclusion_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(m, D[lo:hi]) as subtree ranges, leaf level first."""
    out: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def _consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """RFC 9162 PROOF(m, D[n]) = SUBPROOF(m, D[0:n], true) as subtree ranges."""
    out: list[tuple[int, int]] = []
    lo, hi, b = 0, n, True
    while True:
        if m == hi:
            if not b:
                out.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, b = lo + k, False
    out.reverse()
    return out


def _perfect_parts(lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi) as aligned perfect subtrees, left to right, as (level, index)."""
    parts = []
    while lo < hi:
        size = 1 << ((hi - lo).bit_length() - 1)
        while lo % size:
            size >>= 1
        level = size.bit_length() - 1
        parts.append((level, lo >> level))
        lo += size
    return parts


# -- verifiers (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------
def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size``."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree of ``old_size`` is a prefix of the one of ``new_size``."""
    if any(len(p) != 32 for p in proof) or not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class MerkleLog:
    """The log in one SQLite file: ``entries(idx, data)`` and ``nodes(id, hash)``."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            self.conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(
                "CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                "CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);"
            )
            self.conn.commit()
        # proofs read O(log n) random nodes: map the file instead of a read() per page
        self.conn.execute("PRAGMA mmap_size=1073741824")
        self.conn.execute("PRAGMA cache_size=-65536")
        row = self.conn.execute("SELECT max(idx) FROM entries").fetchone()
        self.size = 0 if row[0] is None else row[0] + 1
        # the right edge: hashes of the perfect subtrees that make up the current tree
        self._edge: list[tuple[int, bytes]] = [
            (level, h)
            for (level, _i), h in zip(
                _perfect_parts(0, self.size), self._fetch(_perfect_parts(0, self.size)), strict=True
            )
        ]

    def close(self) -> None:
        self.conn.close()

    # -- writing ------------------------------------------------------------------------
    def append(self, entry: bytes) -> int:
        """Append one entry durably (against a process crash); returns its index."""
        return self.append_many([entry])

    def append_many(self, entries: Iterable[bytes]) -> int:
        """Append entries in one transaction; returns the index of the last one."""
        rows_e: list[tuple[int, bytes]] = []
        rows_n: list[tuple[int, bytes]] = []
        n = self.size
        edge = self._edge
        for entry in entries:
            h = leaf_hash(entry)
            rows_e.append((n, entry))
            rows_n.append((n, h))
            level, idx = 0, n
            while idx & 1:  # completes the perfect subtree with its left sibling
                _lvl, left = edge.pop()
                h = node_hash(left, h)
                level += 1
                idx >>= 1
                rows_n.append(((level << _SHIFT) | idx, h))
            edge.append((level, h))
            n += 1
        if not rows_e:
            return self.size - 1
        try:
            self.conn.executemany("INSERT INTO entries (idx, data) VALUES (?, ?)", rows_e)
            self.conn.executemany("INSERT INTO nodes (id, hash) VALUES (?, ?)", rows_n)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            self.__init__(self.path)  # type: ignore[misc]  # reload the edge from disk
            raise
        self.size = n
        return n - 1

    # -- reading ------------------------------------------------------------------------
    def _fetch(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        if not ids:
            return []
        keys = [(level << _SHIFT) | idx for level, idx in ids]
        found: dict[int, bytes] = {}
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            q = f"SELECT id, hash FROM nodes WHERE id IN ({','.join('?' * len(chunk))})"
            found.update(self.conn.execute(q, chunk).fetchall())
        try:
            return [bytes(found[k]) for k in keys]
        except KeyError:
            raise ValueError("the log's node table is missing a hash (damaged store)") from None

    def _hashes(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        parts = [_perfect_parts(lo, hi) for lo, hi in ranges]
        flat = self._fetch([p for ps in parts for p in ps])
        out, pos = [], 0
        for ps in parts:
            hs = flat[pos : pos + len(ps)]
            pos += len(ps)
            h = hs[-1]
            for left in reversed(hs[:-1]):
                h = node_hash(left, h)
            out.append(h)
        return out

    def _check_size(self, size: int | None) -> int:
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise ValueError(f"tree size {n} outside 0..{self.size}")
        return n

    def root(self, size: int | None = None) -> bytes:
        n = self._check_size(size)
        if n == 0:
            return _sha256(b"").digest()
        if size is None:
            h = self._edge[-1][1]
            for _lvl, left in reversed(self._edge[:-1]):
                h = node_hash(left, h)
            return h
        return self._hashes([(0, n)])[0]

    def leaf(self, index: int) -> bytes:
        return self._fetch([(0, index)])[0]

    def entry(self, index: int) -> bytes:
        row = self.conn.execute("SELECT data FROM entries WHERE idx=?", (index,)).fetchone()
        if row is None:
            raise ValueError(f"no entry {index}")
        return bytes(row[0])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = self._check_size(size)
        if not 0 <= index < n:
            raise ValueError(f"index {index} outside the tree of size {n}")
        return self._hashes(_inclusion_ranges(index, 0, n))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = self._check_size(new_size)
        if not 0 < old_size <= n:
            raise ValueError(f"old size {old_size} outside 1..{n}")
        return self._hashes(_consistency_ranges(old_size, n))

    def iter_entries(self) -> Iterator[tuple[int, bytes]]:
        for idx, data in self.conn.execute("SELECT idx, data FROM entries ORDER BY idx"):
            yield idx, data.encode() if isinstance(data, str) else bytes(data)
