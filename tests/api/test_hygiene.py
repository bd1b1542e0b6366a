"""API hygiene: Idempotency-Key (20 concurrent retries -> one referral), bearer tokens on
every route, problem details, capped pages, body-size and rate limits, OpenAPI examples."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import api_settings, patient_id

PUBLIC = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/auth/token",
          "/auth/refresh", "/docs/oauth2-redirect", "/redoc"}


def body_for(i: int) -> dict:
    return {"patient_id": patient_id("R1-C1", i), "diagnosis_code": "I21.4",
            "urgency": "urgent", "reason": "chest pain"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _referrals_for(api, pid: str) -> int:  # type: ignore[no-untyped-def]
    from collaboration_api.db import make_engine, session_factory
    from collaboration_api.referral.models import Referral

    engine = make_engine(api.settings.app_db_url)
    try:
        with session_factory(engine)() as db:
            return int(db.scalar(select(func.count()).select_from(Referral).where(
                Referral.patient_id == pid)) or 0)
    finally:
        engine.dispose()


def test_twenty_concurrent_retries_create_one_referral(api) -> None:  # type: ignore[no-untyped-def]
    """Against a real uvicorn server, 20 threads at once, one key."""
    import uvicorn

    from collaboration_api.main import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api.settings), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {**api.headers(api.user("clinician", "R1-C1")), "Idempotency-Key": "twenty"}
        body = body_for(6)
        barrier = threading.Barrier(20)

        def attempt(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as c:
                barrier.wait()
                return c.post("/referrals", json=body, headers=headers)

        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(attempt, range(20)))
        codes = sorted(r.status_code for r in answers)
        assert set(codes) <= {201, 409}, codes
        created = {r.json()["id"] for r in answers if r.status_code == 201}
        assert len(created) == 1, codes
        assert _referrals_for(api, patient_id("R1-C1", 6)) == 1
        # once the first has finished, every retry replays it
        with httpx.Client(base_url=base, timeout=30) as c:
            again = c.post("/referrals", json=body, headers=headers)
        assert again.status_code == 201 and again.json()["id"] in created
        assert again.headers["idempotent-replayed"] == "true"
        assert _referrals_for(api, patient_id("R1-C1", 6)) == 1
    finally:
        server.should_exit = True
        thread.join(10)


def test_idempotency_key_reuse_and_in_flight(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    first = api.post("/referrals", clin, body_for(7), key="same-key")
    assert first.status_code == 201
    replay = api.post("/referrals", clin, body_for(7), key="same-key")
    assert replay.status_code == 201 and replay.json() == first.json()
    other = api.post("/referrals", clin, {**body_for(7), "urgency": "routine"}, key="same-key")
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    # another user's identical key is theirs alone
    mine = api.post("/referrals", api.user("clinician", "R1-C2"),
                    body_for(7) | {"patient_id": patient_id("R1-C2", 7)}, key="same-key")
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"]
    # a client error is an answer too: the retry replays it
    bad = api.post("/referrals", clin, {"patient_id": "x"}, key="bad-body")
    assert bad.status_code == 422
    assert api.post("/referrals", clin, {"patient_id": "x"}, key="bad-body").status_code == 422


def test_in_flight_is_409(api) -> None:  # type: ignore[no-untyped-def]
    from collaboration_api.db import make_engine, session_factory
    from collaboration_api.referral.models import IdempotencyRecord

    clin = api.user("clinician", "R1-C1")
    me = api.get("/auth/me", clin).json()["id"]
    content_type = b"application/json"
    raw = httpx.Request("POST", "http://x", json=body_for(5)).content
    engine = make_engine(api.settings.app_db_url)
    with session_factory(engine)() as db:
        db.add(IdempotencyRecord(
            scope=hashlib.sha256(f"{me}|/referrals".encode()).hexdigest(), key="in-flight",
            body_hash=hashlib.sha256(content_type + b"|" + raw).hexdigest()))
        db.commit()
    engine.dispose()
    r = api.client.post("/referrals", content=raw,
                        headers={**api.headers(clin, "in-flight"),
                                 "Content-Type": "application/json"})
    assert r.status_code == 409, r.text
    assert r.json()["title"] == "Request in progress"
    # a first attempt whose process died (in flight for minutes) no longer blocks the key
    from datetime import UTC, datetime, timedelta

    engine = make_engine(api.settings.app_db_url)
    with session_factory(engine)() as db:
        rec = db.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.key == "in-flight")).one()
        rec.created_at = datetime.now(UTC) - timedelta(minutes=10)
        db.commit()
    engine.dispose()
    r = api.client.post("/referrals", content=raw,
                        headers={**api.headers(clin, "in-flight"),
                                 "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


def test_times_carry_their_offset(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    r = api.post("/referrals", clin, body_for(4))
    assert r.json()["created_at"].endswith(("Z", "+00:00"))
    rid = r.json()["id"]
    api.post(f"/referrals/{rid}/choose", clin, {"practitioner_id": "PR-R1-T1-01",
                                                "institution_id": "R1-T1"})
    api.post(f"/referrals/{rid}/accept", api.user("specialist", "R1-T1"))
    naive = api.post(f"/referrals/{rid}/schedule", api.user("scheduler", "R1-T1"),
                     {"start": "2026-12-01T09:00:00"})
    assert naive.status_code == 422


def test_every_route_needs_a_bearer_token(api) -> None:  # type: ignore[no-untyped-def]
    spec = api.client.get("/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        if path in PUBLIC:
            continue
        concrete = path.replace("{", "").replace("}", "")
        for method in ops:
            r = api.client.request(method.upper(), concrete, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
            checked += 1
    assert checked >= 30
    assert api.client.get("/healthz").status_code == 200
    bogus = api.client.get("/referrals", headers={"Authorization": "Bearer not-a-jwt"})
    assert bogus.status_code == 401 and bogus.headers["www-authenticate"] == "Bearer"


def test_tokens_refresh_and_wrong_password(api) -> None:  # type: ignore[no-untyped-def]
    name = api.user("clinician", "R1-C1")
    bad = api.client.post("/auth/token", data={"username": name, "password": "nope"})
    assert bad.status_code == 401
    tok = api.client.post("/auth/token", data={
        "username": name, "password": api.accounts[name]["password"]}).json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 15 * 60
    fresh = api.client.post("/auth/refresh", json={"refresh_token": tok["refresh_token"]})
    assert fresh.status_code == 200
    # an access token is not a refresh token, and vice versa
    assert api.client.post("/auth/refresh", json={"refresh_token": tok["access_token"]}
                           ).status_code == 401
    assert api.client.get("/auth/me", headers={
        "Authorization": f"Bearer {tok['refresh_token']}"}).status_code == 401
    me = api.client.get("/auth/me", headers={
        "Authorization": f"Bearer {fresh.json()['access_token']}"}).json()
    assert (me["role"], me["institution_id"]) == ("clinician", "R1-C1")


def test_admin_creates_users_nobody_else(api) -> None:  # type: ignore[no-untyped-def]
    new = {"username": "dr.new", "password": "a long passphrase", "role": "specialist",
           "institution_id": "R1-S1"}
    assert api.post("/auth/users", api.user("supervisor", "R1-T1"), new).status_code == 403
    r = api.post("/auth/users", api.user("admin", "R1-T1"), new)
    assert r.status_code == 201 and "password" not in r.text
    assert api.post("/auth/users", api.user("admin", "R1-T1"), new).status_code == 409
    assert api.client.post("/auth/token", data={"username": "dr.new",
                                                "password": "a long passphrase"}
                           ).status_code == 200


def test_pages_are_capped(api) -> None:  # type: ignore[no-untyped-def]
    clin = api.user("clinician", "R1-C1")
    for path in ("/referrals", "/consults", "/notifications", "/patients"):
        assert api.get(path, clin, params={"limit": 100_000}).status_code == 422, path
    assert api.get("/referrals", clin, params={"cursor": "zz"}).status_code == 400


def test_body_size_and_rate_limits(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from collaboration_api.main import create_app

    if api.backend != "sqlite":
        pytest.skip("the limits do not depend on the database")
    settings = api_settings(api.settings.home, f"sqlite:///{tmp_path / 'limits.db'}",
                            rate_limit_per_minute=5, max_request_bytes=2048)
    with TestClient(create_app(settings)) as c:
        big = c.post("/auth/token", content=b"x" * 4096,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413
        assert big.headers["content-type"].startswith("application/problem+json")
        codes = [c.get("/referrals").status_code for _ in range(8)]
        assert codes[:4] == [401] * 4 and codes[-1] == 429, codes
        limited = c.get("/referrals")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code == 200  # probes are never limited


def test_openapi_has_examples_and_problem_responses(api) -> None:  # type: ignore[no-untyped-def]
    spec = api.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("ReferralCreate", "ConsultCreate", "ChoosePractitioner", "Decline",
                 "ReferBack", "Opinion", "Feedback", "NetworkReport", "Token"):
        assert schemas[name].get("examples"), name
    post = spec["paths"]["/referrals"]["post"]
    assert {"401", "403", "409", "422", "429"} <= set(post["responses"])
    assert "Idempotency-Key" in post["description"]
    for path, ops in spec["paths"].items():
        if "post" in ops and not path.startswith("/auth/"):
            names = {p["name"] for p in ops["post"].get("parameters", [])}
            assert "Idempotency-Key" in names, path
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
