"""The contract through the client: who may write, what canRead decides, restarts."""

from __future__ import annotations

import os

import pytest

from ledger import ids
from ledger.client import LedgerClient, NotAllowed, RecordIn
from regioncare.errors import UserError

from .conftest import open_client, pseudo


def test_only_the_holder_registers_or_supersedes(client):
    p = pseudo("alice")
    key = client.register_record(
        "H02", RecordIn("Observation/1", p, os.urandom(32), "Observation", 1)
    )
    entry = client.get_record_by_key(key)
    assert entry.holder == client.address_of("H02") and entry.version == 1
    # the packed storage slot decodes to what was registered
    assert (entry.patient, entry.record_class, entry.level) == (
        p,
        ids.RECORD_CLASSES["Observation"],
        1,
    )
    assert abs(entry.time - client.chain_time()) <= 2
    top = client.register_record("H02", RecordIn("Sealed/1", p, bytes([255]) * 32, 19, 3))
    sealed = client.get_record_by_key(top)
    assert (sealed.record_class, sealed.level, sealed.sha256) == (19, 3, bytes([255]) * 32)
    with pytest.raises(NotAllowed, match="only the holder"):
        client.register_key("H03", key, p, "Observation", 1, os.urandom(32))
    new_hash = os.urandom(32)
    client.supersede_record("H02", RecordIn("Observation/1", p, new_hash, "Observation", 1))
    entry = client.get_record_by_key(key)
    assert entry.version == 2 and entry.sha256 == new_hash
    assert client.index.record(key)["sha256"] == new_hash
    with pytest.raises(NotAllowed, match="patient differs"):
        client.register_key("H02", key, pseudo("bob"), "Observation", 1, os.urandom(32))
    # an unregistered account is no institution
    rogue = client.keyring.account("ROGUE", create=True)
    client._send(client.keyring.admin(), rogue.address, b"", gas=21_000, value=10**20)
    with pytest.raises(NotAllowed, match="not an institution"):
        client.register_key("ROGUE", os.urandom(32), p, 1, 1, os.urandom(32))


def test_only_home_grants_and_can_read_honours_level_expiry_revocation(client):
    p = pseudo("carol")
    client.set_home("H01", p)
    with pytest.raises(NotAllowed, match="only the home institution"):
        client.set_home("H02", p)
    low = RecordIn("Condition/low", p, os.urandom(32), "Condition", 1)
    high = RecordIn("Condition/high", p, os.urandom(32), "Condition", 3)
    client.register_record("H02", low)
    client.register_record("H02", high)
    consent = ids.sha256(b"signed consent form #1")
    now = client.chain_time()

    def can(rid: str, role: str = "physician") -> bool:
        return client.can_read(holder="H02", record_id=rid, reader="H03", role=role)

    assert client.can_read(
        holder="H02", record_id="Condition/high", reader="H02", role="nurse"
    )  # the holder reads its own
    assert not can("Condition/low")
    with pytest.raises(NotAllowed, match="only the home institution"):
        client.grant(
            "H02",
            patient=p,
            grantee="H03",
            role="physician",
            max_level=3,
            purpose="referral",
            expiry=now + 3600,
            consent=consent,
        )
    with pytest.raises(NotAllowed, match="only the home institution"):
        client.grant(
            "H03",
            patient=p,
            grantee="H03",
            role="physician",
            max_level=3,
            purpose="referral",
            expiry=now + 3600,
            consent=consent,
        )
    client.grant(
        "H01",
        patient=p,
        grantee="H03",
        role="physician",
        max_level=2,
        purpose="referral",
        expiry=now + 3600,
        consent=consent,
    )
    assert can("Condition/low")
    assert not can("Condition/high")  # level 3 above max_level 2
    assert not can("Condition/low", role="nurse")  # the grant is per role
    assert not client.can_read(
        holder="H02", record_id="Condition/low", reader="H01", role="physician"
    )  # granted to H03 only
    assert client.index.grants_for(p)[0]["consent"] == consent
    # expiry
    client.time_travel(now + 3601)
    assert not can("Condition/low")
    # re-grant, then revoke
    later = client.chain_time()
    client.grant(
        "H01",
        patient=p,
        grantee="H03",
        role="physician",
        max_level=3,
        purpose="treatment",
        expiry=later + 3600,
        consent=consent,
    )
    assert can("Condition/high")
    with pytest.raises(NotAllowed):
        client.revoke("H02", patient=p, grantee="H03", role="physician", consent=consent)
    client.revoke(
        "H01", patient=p, grantee="H03", role="physician", consent=ids.sha256(b"withdrawal")
    )
    assert not can("Condition/low") and not can("Condition/high")
    # the home can hand the patient over; then the old home no longer grants
    client.set_home("H01", p, home="H02")
    with pytest.raises(NotAllowed):
        client.grant(
            "H01",
            patient=p,
            grantee="H03",
            role="physician",
            max_level=3,
            purpose="treatment",
            expiry=later + 3600,
            consent=consent,
        )


def test_raw_identifiers_are_refused(client):
    for bad in ("110101199003077777", "Zhang San", "MRN-000123", b"short", "0x1234"):
        with pytest.raises(UserError):
            client.register_record("H02", RecordIn("Observation/9", bad, os.urandom(32)))
        with pytest.raises(UserError):
            client.set_home("H01", bad)
    with pytest.raises(UserError):
        client.register_record("H02", RecordIn("Observation/9", pseudo("x"), "not-a-hash"))
    with pytest.raises(UserError):
        client.register_record(
            "H02", RecordIn("Observation/9", pseudo("x"), os.urandom(32), level=9)
        )
    with pytest.raises(UserError):
        client.grant(
            "H01",
            patient=pseudo("x"),
            grantee="H03",
            role="surgeon-in-chief",
            max_level=1,
            purpose="treatment",
            expiry=1,
            consent=os.urandom(32),
        )


def test_restart_keeps_records_grants_and_anchors(tmp_path):
    state = tmp_path / "ledger"
    client = open_client(state)
    p = pseudo("dave")
    client.set_home("H01", p)
    n = client.register_records(
        "H02",
        [RecordIn(f"Obs/{i}", p, ids.sha256(b"%d" % i), "Observation", 1) for i in range(150)],
    )
    assert n == 150
    client.grant(
        "H01",
        patient=p,
        grantee="H03",
        role="nurse",
        max_level=1,
        purpose="consult",
        expiry=client.chain_time() + 10**6,
        consent=os.urandom(32),
    )
    client.anchor_log(7, os.urandom(32))
    head = client.w3.eth.block_number
    client.close()
    with pytest.raises(UserError):  # a reader may open beside nothing, a writer is exclusive
        with LedgerClient.open(state) as c1, LedgerClient.open(state):
            del c1
    client = LedgerClient.open(state)
    assert client.w3.eth.block_number == head
    assert client.contract.functions.record_count().call() == 150
    assert client.get_record("H02", "Obs/149").sha256 == ids.sha256(b"149")
    assert client.can_read(holder="H02", record_id="Obs/3", reader="H03", role="nurse")
    assert [s for s, _ in client.anchors()] == [7]
    assert client.index.record_count() == 150
    # still writable after the restart
    client.register_record("H03", RecordIn("Obs/x", p, os.urandom(32)))
    client.close()
    reader = LedgerClient.open(state, read_only=True)
    assert reader.get_record("H03", "Obs/x") is not None
    with pytest.raises(UserError):
        reader.register_record("H03", RecordIn("Obs/y", p, os.urandom(32)))
    reader.close()
