"""A writer process for the SIGKILL test: prints one line per acknowledged write."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ledger import ids
from ledger.accesslog import AccessLog
from ledger.client import LedgerClient, RecordIn


def main(state: Path, start: int) -> None:
    client = LedgerClient.open(state)  # durable: one fsync'd commit per block
    if not client.index.institutions():
        for code in ("H01", "H02", "H03"):
            client.add_institution(code)
    log = AccessLog(state / "access_log.sqlite")
    print("READY", flush=True)
    i = start
    while True:
        patient = ids.sha256(b"patient-%d" % (i % 5))
        if i % 5 == 0 and client.home_of(patient) is None:
            client.set_home("H01", patient)
        rid = f"Observation/{i}"
        client.register_record(
            "H02", RecordIn(rid, patient, ids.sha256(rid.encode()), "Observation", 1)
        )
        print(f"R {i}", flush=True)
        if i % 3 == 0 and client.home_of(patient) is not None:
            client.grant(
                "H01",
                patient=patient,
                grantee="H03",
                role="physician",
                max_level=2,
                purpose="treatment",
                expiry=2**40,
                consent=ids.sha256(b"consent-%d" % i),
            )
            print(f"G {i}", flush=True)
        index = log.record(
            reader="H03",
            role="physician",
            record_key=ids.record_key("H02", rid),
            allowed=True,
            at=i,
        )
        print(f"L {index}", flush=True)
        i += 1
        if os.environ.get("WRITER_ONCE"):
            break


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
