"""Our own SQLite index of the contract's events.

eth-tester answers log queries by walking blocks, which slows down as the chain grows;
every event the client emits is written here from its receipt, and :meth:`EventIndex.sync`
catches up on anything the chain has that the index lacks (e.g. after a crash between a
block and its indexing, or on a consortium node fed by other hospitals).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS institutions (address TEXT PRIMARY KEY, code TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS homes (patient BLOB PRIMARY KEY, home TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    record_key BLOB PRIMARY KEY, patient BLOB NOT NULL, holder TEXT NOT NULL,
    record_class INTEGER NOT NULL, level INTEGER NOT NULL, sha256 BLOB NOT NULL,
    version INTEGER NOT NULL, time INTEGER NOT NULL, block INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS record_versions (
    record_key BLOB NOT NULL, version INTEGER NOT NULL, sha256 BLOB NOT NULL,
    time INTEGER NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
    patient BLOB NOT NULL, holder TEXT NOT NULL, record_class INTEGER NOT NULL,
    level INTEGER NOT NULL, PRIMARY KEY (record_key, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_versions_order ON record_versions (block, log_index);
CREATE INDEX IF NOT EXISTS records_patient ON records (patient);
CREATE TABLE IF NOT EXISTS local_ids (
    record_key BLOB PRIMARY KEY, holder_code TEXT NOT NULL, record_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants (
    patient BLOB NOT NULL, grantee TEXT NOT NULL, role INTEGER NOT NULL,
    max_level INTEGER NOT NULL, purpose INTEGER NOT NULL, expiry INTEGER NOT NULL,
    consent BLOB NOT NULL, active INTEGER NOT NULL, block INTEGER NOT NULL,
    PRIMARY KEY (patient, grantee, role)
);
CREATE TABLE IF NOT EXISTS anchors (
    idx INTEGER PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,
    time INTEGER NOT NULL, block INTEGER NOT NULL
);
"""


class EventIndex:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            uri = f"file:{self.path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    @property
    def last_block(self) -> int:
        value = self.get_meta("last_block")
        return -1 if value is None else int(value)

    # -- events -------------------------------------------------------------------------
    def apply(self, name: str, args: dict[str, Any], block: int, log_index: int = 0) -> None:
        """Apply one decoded contract event (idempotent: replaying a block is harmless)."""
        c = self.conn
        if name == "RecordRegistered":
            key = bytes(args["record_id"])
            c.execute(
                "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(record_key) DO UPDATE"
                " SET patient=excluded.patient, holder=excluded.holder,"
                " record_class=excluded.record_class, level=excluded.level,"
                " sha256=excluded.sha256, version=excluded.version, time=excluded.time,"
                " block=excluded.block WHERE excluded.version >= records.version",
                (
                    key,
                    bytes(args["patient"]),
                    args["holder"],
                    args["record_class"],
                    args["level"],
                    bytes(args["sha256"]),
                    args["version"],
                    args["time"],
                    block,
                ),
            )
            c.execute(
                "INSERT OR REPLACE INTO record_versions VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    args["version"],
                    bytes(args["sha256"]),
                    args["time"],
                    block,
                    log_index,
                    bytes(args["patient"]),
                    args["holder"],
                    args["record_class"],
                    args["level"],
                ),
            )
        elif name == "GrantChanged":
            c.execute(
                "INSERT OR REPLACE INTO grants VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    bytes(args["patient"]),
                    args["grantee"],
                    args["role"],
                    args["max_level"],
                    args["purpose"],
                    args["expiry"],
                    bytes(args["consent"]),
                    int(args["active"]),
                    block,
                ),
            )
        elif name == "LogAnchored":
            c.execute(
                "INSERT OR REPLACE INTO anchors VALUES (?,?,?,?,?)",
                (args["index"], args["size"], bytes(args["root"]), args["time"], block),
            )
        elif name == "HomeSet":
            c.execute(
                "INSERT OR REPLACE INTO homes VALUES (?,?)", (bytes(args["patient"]), args["home"])
            )
        elif name == "InstitutionAdded":
            code = bytes(args["code"]).rstrip(b"\0").decode("ascii", "replace")
            c.execute("INSERT OR REPLACE INTO institutions VALUES (?,?)", (args["account"], code))

    def mark_block(self, block: int) -> None:
        if block > self.last_block:
            self.set_meta("last_block", str(block))

    def commit(self) -> None:
        self.conn.commit()

    def add_local_ids(self, rows: list[tuple[bytes, str, str]]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO local_ids VALUES (?,?,?)", rows)

    # -- queries ------------------------------------------------------------------------
    def record(self, key: bytes) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT patient, holder, record_class, level, sha256, version, time FROM records"
            " WHERE record_key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        names = ("patient", "holder", "record_class", "level", "sha256", "version", "time")
        return dict(zip(names, row, strict=True))

    def iter_records(self) -> Iterator[tuple[bytes, str, bytes, str | None, str | None]]:
        """(record_key, holder address, sha256, holder code, local record id)."""
        yield from self.conn.execute(
            "SELECT r.record_key, r.holder, r.sha256, l.holder_code, l.record_id"
            " FROM records r LEFT JOIN local_ids l ON l.record_key = r.record_key"
            " ORDER BY l.holder_code, l.record_id"
        )

    def iter_registrations(
        self, up_to_block: int | None = None
    ) -> Iterator[tuple[bytes, bytes, str, int, int, bytes, int]]:
        """Every registration in chain order: (key, patient, holder, class, level, sha256,
        version)."""
        limit = self.last_block if up_to_block is None else up_to_block
        yield from self.conn.execute(
            "SELECT record_key, patient, holder, record_class, level, sha256, version"
            " FROM record_versions WHERE block <= ? ORDER BY block, log_index",
            (limit,),
        )

    def record_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def anchors(self) -> list[tuple[int, int, bytes, int]]:
        return [
            tuple(r)
            for r in self.conn.execute(  # type: ignore[misc]
                "SELECT idx, size, root, time FROM anchors ORDER BY idx"
            )
        ]

    def institutions(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT code, address FROM institutions"))

    def records_of(self, patient: bytes) -> list[dict[str, Any]]:
        """Every indexed record of one patient (the record locator of the read path)."""
        cur = self.conn.execute(
            "SELECT r.record_key, l.holder_code, l.record_id, r.holder, r.record_class,"
            " r.level, r.sha256, r.version FROM records r"
            " LEFT JOIN local_ids l ON l.record_key = r.record_key WHERE r.patient=?"
            " ORDER BY l.holder_code, l.record_id",
            (patient,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def holder_records(self, holder_code: str) -> dict[str, tuple[bytes, bytes]]:
        """record_id -> (sha256, patient) of what the index holds for one holder."""
        return {
            rid: (bytes(sha), bytes(patient))
            for rid, sha, patient in self.conn.execute(
                "SELECT l.record_id, r.sha256, r.patient FROM local_ids l"
                " JOIN records r ON r.record_key = l.record_key WHERE l.holder_code=?",
                (holder_code,),
            )
        }

    def homes(self) -> dict[bytes, str]:
        """patient -> home address, for every patient with a home."""
        return {bytes(p): h for p, h in self.conn.execute("SELECT patient, home FROM homes")}

    def home(self, patient: bytes) -> str | None:
        row = self.conn.execute("SELECT home FROM homes WHERE patient=?", (patient,)).fetchone()
        return None if row is None else row[0]

    def grants_for(self, patient: bytes) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT grantee, role, max_level, purpose, expiry, consent, active FROM grants"
            " WHERE patient=?",
            (patient,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
