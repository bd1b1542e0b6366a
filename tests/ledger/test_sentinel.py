"""Nothing personal on chain: planted identifiers never reach chain state or events."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest

from ledger import ids
from ledger.chain import SqliteKV
from ledger.client import RecordIn
from ledger.service import open_ledger
from regioncare.errors import UserError
from regioncare.settings import Settings

SENTINELS = [
    "ZQXJ-SENTINEL-Wang-Xiaoming",
    "110101199003074477",
    "MRN-SENTINEL-90210",
    "13800138000",
    "sentinel.patient@example.org",
]


CONTROL = "CTRL-SCAN-7731"  # an institution code: on chain by design, proves the scan sees


def _forms(s: str) -> list[bytes]:
    raw = s.encode()
    return [raw, raw.hex().encode(), s.encode("utf-16-le"), raw.ljust(32, b"\0")[:32]]


def test_no_planted_identifier_on_chain(tmp_path):
    settings = Settings(home=tmp_path)
    key = b"pseudonym-key-from-settings"
    with open_ledger(settings, anchor_every=3, durable=False) as ledger:
        client = ledger.client
        for code in ("H01", "H02", "H03", CONTROL):
            client.add_institution(code)
        for n, ident in enumerate(SENTINELS):
            # the raw identifier is refused wherever a pseudonym or hash is expected
            with pytest.raises(UserError):
                client.set_home("H01", ident)
            with pytest.raises(UserError):
                client.register_record("H02", RecordIn(f"Observation/{n}", ident, os.urandom(32)))
            patient = hmac.new(key, ident.encode(), hashlib.sha256).digest()
            body = json.dumps(
                {"resourceType": "Patient", "name": ident, "identifier": [{"value": ident}]}
            ).encode()
            client.set_home("H01", patient)
            client.register_record(
                "H02", RecordIn(f"Observation/{n}", patient, ids.sha256(body), "Patient", 2)
            )
            client.grant(
                "H01",
                patient=patient,
                grantee="H03",
                role="physician",
                max_level=2,
                purpose="referral",
                expiry=2**40,
                consent=ids.sha256(body + b"consent"),
            )
            ledger.log.record(
                reader="H03",
                role="physician",
                record_key=ids.record_key("H02", f"Observation/{n}"),
                allowed=True,
            )
        ledger.log.maybe_anchor(force=True)
        events = client.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"})
        event_blobs = [b"".join(bytes(t) for t in e["topics"]) + bytes(e["data"]) for e in events]
        assert len(events) >= 21
        blocks = [
            bytes(tx.get("input", tx.get("data", b"")))
            for n in range(1, client.w3.eth.block_number + 1)
            for tx in client.w3.eth.get_block(n, full_transactions=True)["transactions"]
        ]
        assert len(blocks) >= 20
    kv = SqliteKV(tmp_path / "ledger" / "chain.sqlite", read_only=True)
    chain_blobs = [k + v for k, v in kv.iter_items()]
    kv.close()
    index_blob = (tmp_path / "ledger" / "events.sqlite").read_bytes()
    log_blob = (tmp_path / "ledger" / "access_log.sqlite").read_bytes()
    assert len(chain_blobs) > 100
    # positive control: a value that is on chain by design is found by the same scan
    assert any(CONTROL.encode() in b for b in chain_blobs)
    assert any(CONTROL.encode() in b for b in event_blobs)
    for ident in SENTINELS:
        for form in _forms(ident):
            for name, blobs in (
                ("chain state", chain_blobs),
                ("events", event_blobs),
                ("transactions", blocks),
                ("event index", [index_blob]),
                ("access log", [log_blob]),
            ):
                assert not any(form in b for b in blobs), f"{ident!r} found in {name}"
