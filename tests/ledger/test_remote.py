"""The JSON-RPC code path (receipt polling, EIP-1559 fees, funding, event sync) with two
hospitals' ledgers on one chain, each with only its own key - as on a consortium."""

from __future__ import annotations

import json
import os
import shutil

from ledger import ids
from ledger.chain import open_embedded
from ledger.client import LedgerClient, RecordIn
from ledger.keys import Keyring

from .conftest import pseudo


def test_two_hospitals_share_one_chain(tmp_path):
    operator_dir, h07_dir = tmp_path / "operator", tmp_path / "h07"
    admin = Keyring(operator_dir / "keys.json").admin(create=True)
    w3, _backend = open_embedded(
        tmp_path / "chain.sqlite", bytes.fromhex(admin.address[2:]), durable=False
    )
    operator = LedgerClient.open(operator_dir, w3=w3)  # remote-node mode: no backend
    assert operator.backend is None and operator._legacy_gas_price is None
    operator.add_institution("H01")
    # H07 makes its own key on its own node and hands over only its address
    h07_key = Keyring(h07_dir / "keys.json").account("H07", create=True)
    shutil.copy(operator_dir / "deployment.json", h07_dir / "deployment.json")
    operator.add_institution("H07", address=h07_key.address)
    assert "H07" not in operator.keyring.names()
    p = pseudo("erin")
    operator.set_home("H01", p)

    h07 = LedgerClient.open(h07_dir, w3=w3)
    assert h07.institutions() == {"H01": operator.address_of("H01"), "H07": h07_key.address}
    h07.register_record("H07", RecordIn("DiagnosticReport/1", p, ids.sha256(b"r1"), 7, 2))
    assert not h07.can_read(
        holder="H07", record_id="DiagnosticReport/1", reader="H01", role="radiologist"
    )
    operator.grant(
        "H01",
        patient=p,
        grantee="H07",
        role="radiologist",
        max_level=2,
        purpose="imaging",
        expiry=2**40,
        consent=os.urandom(32),
    )
    # the operator's node learns H07's record from the chain's events
    operator.sync()
    key = ids.record_key("H07", "DiagnosticReport/1")
    assert operator.index.record(key)["sha256"] == ids.sha256(b"r1")
    h07.sync()
    assert h07.index.grants_for(p)[0]["grantee"] == h07_key.address
    assert json.loads((h07_dir / "deployment.json").read_text())["address"] == (
        operator.contract.address
    )
    h07.close()
    operator.close()
