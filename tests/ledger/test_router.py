"""The access log's proofs over HTTP verify on the client side."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger import router as ledger_router
from ledger.accesslog import AccessLog, check_consistency, check_inclusion


def test_log_routes(tmp_path):
    log = AccessLog(tmp_path / "log.sqlite")
    for i in range(25):
        log.record(
            reader="H02",
            role="nurse",
            record_key=bytes([i]) * 32,
            allowed=True,
            at=1_767_225_600 + i,
        )
    app = FastAPI()
    app.include_router(ledger_router.router)
    http = TestClient(app)
    assert http.get("/ledger/log/root").status_code == 503  # not configured yet
    app.dependency_overrides[ledger_router.get_access_log] = lambda: log
    root = http.get("/ledger/log/root").json()
    assert root["size"] == 25 and root["root"] == log.root().hex()
    inc = http.get("/ledger/log/inclusion", params={"index": 7, "size": 20}).json()
    assert check_inclusion(inc) and inc["root"] == log.root(20).hex()
    inc_now = http.get("/ledger/log/inclusion", params={"index": 24}).json()
    assert check_inclusion(inc_now) and inc_now["size"] == 25
    con = http.get("/ledger/log/consistency", params={"old": 9, "new": 25}).json()
    assert check_consistency(con)
    assert not check_consistency({**con, "proof": con["proof"][1:]})
    assert http.get("/ledger/log/inclusion", params={"index": 25}).status_code == 422
    assert http.get("/ledger/log/inclusion", params={"index": 3, "size": 26}).status_code == 422
    assert http.get("/ledger/log/consistency", params={"old": 0}).status_code == 422
    assert http.get("/ledger/log/consistency", params={"old": 9, "new": 5}).status_code == 422
    log.close()
