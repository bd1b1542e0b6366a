"""API hygiene as ASGI middleware: body-size limit, per-client rate limit, idempotency.

* Bodies larger than ``settings.max_request_bytes`` get 413.
* Each client (the user behind a valid bearer token, else the remote address) gets
  ``settings.rate_limit_per_minute`` requests per minute as a token bucket; then 429 with
  Retry-After. Health, readiness and metrics are exempt.
* Every POST honours ``Idempotency-Key`` (IETF draft "The Idempotency-Key HTTP Header
  Field"): the first request's response is stored and replayed for retries with the same
  key and body; the same key with another body is 422; a retry while the first is still
  running is 409. Keys are scoped per caller and path. Token endpoints are exempt (their
  answers are credentials, which are not stored).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from collaboration_api.auth.security import subject_of
from collaboration_api.db import as_utc, utcnow
from collaboration_api.problems import PROBLEM
from collaboration_api.referral.models import IdempotencyRecord
from regioncare.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXEMPT_RATE = ("/healthz", "/readyz", "/metrics")
EXEMPT_IDEMPOTENCY = ("/auth/",)
STALE_IN_FLIGHT = timedelta(minutes=2)  # no request runs this long: its process died
KEY_LIFETIME = timedelta(hours=24)  # keys are for retries, not for ever


async def send_problem(send: Send, status: int, title: str, detail: str,
                       headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail}).encode()
    raw = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def replay_receive(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class SizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        length = Headers(scope=scope).get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            return await send_problem(send, 413, "Content too large",
                                      f"the body exceeds {self.max_bytes} bytes")
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            return await send_problem(send, 413, "Content too large",
                                      f"the body exceeds {self.max_bytes} bytes")
        await self.app(scope, replay_receive(body), send)


class RateLimitMiddleware:
    """A token bucket per client: ``per_minute`` requests a minute, bursts up to that."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.capacity = float(settings.rate_limit_per_minute)
        self.rate = self.capacity / 60.0
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def _take(self, client: str) -> float:
        """0 if allowed, else seconds until a token is available."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self.buckets[client] = (tokens - 1.0, now)
                return 0.0
            self.buckets[client] = (tokens, now)
            if len(self.buckets) > 100_000:  # forget idle clients
                self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < 120}
            return (1.0 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_RATE:
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        user = subject_of(self.settings, headers.get("authorization"))
        client = f"user:{user}" if user else f"ip:{(scope.get('client') or ('?',))[0]}"
        wait = self._take(client)
        if wait > 0:
            return await send_problem(send, 429, "Too many requests",
                                      f"at most {self.settings.rate_limit_per_minute} "
                                      "requests a minute per client",
                                      {"Retry-After": str(math.ceil(wait))})
        await self.app(scope, receive, send)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings,
                 sessions: sessionmaker[Session]) -> None:
        self.app, self.settings, self.sessions = app, settings, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith(
                EXEMPT_IDEMPOTENCY):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if key is None:
            return await self.app(scope, receive, send)
        if not 1 <= len(key) <= 200:
            return await send_problem(send, 400, "Bad Idempotency-Key",
                                      "the key must be 1 to 200 characters")
        caller = subject_of(self.settings, headers.get("authorization"))
        if caller is None:  # the route answers 401; nothing to remember
            return await self.app(scope, receive, send)
        body = await read_body(receive, 1 << 62)
        scope_hash = hashlib.sha256(f"{caller}|{scope['path']}".encode()).hexdigest()
        body_hash = hashlib.sha256((headers.get("content-type") or "").encode() + b"|"
                                   + body).hexdigest()
        claim = await run_in_threadpool(self._claim, scope_hash, key, body_hash)
        if claim[0] == "mismatch":
            return await send_problem(send, 422, "Idempotency-Key reused",
                                      "this Idempotency-Key was used with a different body")
        if claim[0] == "in-flight":
            return await send_problem(send, 409, "Request in progress",
                                      "the first request with this Idempotency-Key is still "
                                      "running; retry later", {"Retry-After": "1"})
        if claim[0] == "replay":
            stored = claim[2]
            raw = [(k.encode(), v.encode()) for k, v in stored["headers"]]
            raw.append((b"idempotent-replayed", b"true"))
            await send({"type": "http.response.start", "status": claim[1], "headers": raw})
            await send({"type": "http.response.body", "body": stored["body"].encode()})
            return
        record_id = claim[1]
        status: dict[str, Any] = {"code": 500, "headers": [], "chunks": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["headers"] = [(k.decode("latin-1"), v.decode("latin-1"))
                                     for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                status["chunks"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive(body), capture)
        except BaseException:
            await run_in_threadpool(self._forget, record_id)
            raise
        if status["code"] >= 500:
            await run_in_threadpool(self._forget, record_id)
            return
        text = b"".join(status["chunks"]).decode("utf-8", errors="replace")
        kept = [(k, v) for k, v in status["headers"]
                if k.lower() in ("content-type", "location", "content-length")]
        await run_in_threadpool(self._store, record_id, status["code"],
                                {"headers": kept, "body": text})

    def _claim(self, scope_hash: str, key: str, body_hash: str) -> tuple[Any, ...]:
        with self.sessions() as db:
            record = IdempotencyRecord(scope=scope_hash, key=key, body_hash=body_hash,
                                       created_at=utcnow())
            db.add(record)
            try:
                db.commit()
                return ("new", record.id)
            except IntegrityError:
                db.rollback()
            first = db.scalars(select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope_hash, IdempotencyRecord.key == key)).first()
            if first is None:  # the first attempt failed and was forgotten meanwhile
                return ("in-flight",)
            age = utcnow() - (as_utc(first.created_at) or utcnow())
            abandoned = first.status_code is None and age > STALE_IN_FLIGHT
            if abandoned or age > KEY_LIFETIME:  # a crashed attempt, or a key long expired
                db.delete(first)
                db.commit()
                return self._claim(scope_hash, key, body_hash)
            if first.body_hash != body_hash:
                return ("mismatch",)
            if first.status_code is None:
                return ("in-flight",)
            return ("replay", first.status_code, dict(first.response or {}))

    def _store(self, record_id: int, status_code: int, response: dict[str, Any]) -> None:
        with self.sessions() as db:
            record = db.get(IdempotencyRecord, record_id)
            if record is not None:
                record.status_code, record.response = status_code, response
                db.commit()

    def _forget(self, record_id: int) -> None:
        with self.sessions() as db:
            db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
            db.commit()
