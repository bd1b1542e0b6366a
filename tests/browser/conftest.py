"""Browser tests of the console: the real app under uvicorn, Debian's Chromium via Playwright.

One uvicorn server (a background thread, a free 127.0.0.1 port) over the shared ``platform``
and one browser for the whole session. Chromium is Debian's ``/usr/bin/chromium``
(``scripts/services.sh`` installs it); Playwright never downloads a browser. Without it
the tests skip, except under CI=true, where they fail.

Every request the server answers is timed by a thin ASGI wrapper (server time, from the
first byte in to the last byte out); the figures go to ``test-artifacts/page-timings.json``
(speed is asserted by no test: ``regioncare bench console`` measures it).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

CHROMIUM = os.environ.get("REGIONCARE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
BUDGET_MS = 300.0
# Checking a password is slow on purpose (argon2's cost is a security setting, ~0.3 s
# here): sign-in is timed and reported, but it is not a page.
UNBUDGETED = {"/auth/token"}


class Timed:
    """ASGI wrapper: (method, path, status, ms) of every HTTP request, in order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            ms = (time.perf_counter() - started) * 1000
            query = scope.get("query_string", b"").decode()
            with self.lock:
                self.log.append(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "query": query,
                        "status": status["code"],
                        "ms": round(ms, 2),
                    }
                )

    def mark(self) -> int:
        with self.lock:
            return len(self.log)

    def since(self, mark: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.log[mark:])


@dataclass
class Console:
    base: str
    settings: Any
    accounts: list[dict[str, str]]
    timed: Timed
    pages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warmup: list[dict[str, Any]] = field(default_factory=list)
    warmup_end: int = 0
    tokens: dict[str, str] = field(default_factory=dict)

    def account(self, role: str, institution: str | None = None) -> dict[str, str]:
        for a in self.accounts:
            if a["role"] == role and (institution is None or a["institution"] == institution):
                return a
        raise KeyError(f"no {role} at {institution}")

    def token(self, username: str) -> str:
        if username not in self.tokens:
            acc = next(a for a in self.accounts if a["username"] == username)
            r = httpx.post(
                self.base + "/auth/token", data={"username": username, "password": acc["password"]}
            )
            r.raise_for_status()
            self.tokens[username] = r.json()["access_token"]
        return self.tokens[username]

    def api(self, method: str, path: str, as_: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(as_)}", **kw.pop("headers", {})}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: run `bash scripts/services.sh` (make test does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def console(platform: Any) -> Iterator[Console]:
    """The API and console under uvicorn on a free port, with the demo users."""
    import uvicorn

    from collaboration_api.auth.service import seed_demo_users
    from collaboration_api.main import create_app

    _chromium_or_skip()
    accounts = seed_demo_users(platform.settings)
    timed = Timed(create_app(platform.settings))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(timed, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    c = Console(f"http://127.0.0.1:{port}", platform.settings, accounts, timed)
    _warm_up(c)
    try:
        yield c
    finally:
        _write_timings(c)
        server.should_exit = True
        thread.join(timeout=10)


def _warm_up(c: Console) -> None:
    """First calls pay one-off costs (MLflow's import, Jinja's template compile, the
    record stores' directory cache); they are timed and reported apart from the pages."""
    mark = c.timed.mark()
    ds = c.account("data_scientist")["username"]
    sched = c.account("scheduler")["username"]
    c.api("GET", "/models", ds).raise_for_status()
    c.api("GET", "/console/api/board", sched).raise_for_status()
    for path in (
        "/console/login",
        "/console/referrals/new",
        "/console/scheduler",
        "/console/supervision",
        "/console/models",
    ):
        httpx.get(c.base + path).raise_for_status()
    c.warmup = [e for e in c.timed.since(mark) if e["path"] != "/auth/token"]
    c.warmup_end = c.timed.mark()


def _write_timings(c: Console) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    all_ms = [e["ms"] for calls in c.pages.values() for e in calls if e["path"] not in UNBUDGETED]
    logins = [e["ms"] for calls in c.pages.values() for e in calls if e["path"] in UNBUDGETED]
    summary = {
        "budget_ms": BUDGET_MS,
        "requests": len(all_ms),
        "max_ms": max(all_ms, default=None),
        "p50_ms": round(statistics.median(all_ms), 2) if all_ms else None,
        "sign_in_ms": {
            "count": len(logins),
            "max": max(logins, default=None),
            "p50": round(statistics.median(logins), 2) if logins else None,
        },
        "pages": {
            name: {
                "html_ms": next(
                    (
                        e["ms"]
                        for e in calls
                        if e["path"].startswith("/console/")
                        and "/api/" not in e["path"]
                        and "/static/" not in e["path"]
                    ),
                    None,
                ),
                "max_ms": max((e["ms"] for e in calls), default=None),
                "calls": calls,
            }
            for name, calls in c.pages.items()
        },
        "warmup": c.warmup,
        # every request of the session, pages or not, sign-in and warm-up aside
        "session_max_ms": max(
            (e["ms"] for e in c.timed.since(c.warmup_end) if e["path"] not in UNBUDGETED),
            default=None,
        ),
    }
    (ARTIFACTS / "page-timings.json").write_text(json.dumps(summary, indent=1))


@pytest.fixture(scope="session")
def browser(console: Console) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Session:
    """One signed-in user in their own browser context."""

    def __init__(
        self,
        console: Console,
        browser: Any,
        account: dict[str, str],
        viewport: dict[str, int] | None = None,
    ) -> None:
        self.console, self.account = console, account
        self.context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 800},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.closed = False
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # Start the context's renderer before timing anything: on a two-core machine a new
        # Chromium renderer takes the CPU from the server for a few hundred ms.
        self.page.goto(console.base + "/console/login")
        self.page.wait_for_load_state("networkidle")

    def login(self) -> None:
        """Sign in through the login page; the role's first page is recorded as
        ``home-<role>``."""
        page = self.page
        self.visit("/console/login", "login", shot=False)
        mark = self.console.timed.mark()
        page.fill("#username", self.account["username"])
        page.fill("#password", self.account["password"])
        page.click("#login-form button[type=submit]")
        page.wait_for_url(lambda url: "/console/login" not in url)
        self.record(f"home-{self.account['role']}", mark)

    def visit(
        self, path: str, name: str, *, ready: str | None = None, shot: bool = True
    ) -> list[dict[str, Any]]:
        """Open a page, wait for it and its API calls, time them, take a screenshot."""
        mark = self.console.timed.mark()
        self.page.goto(self.console.base + path)
        self.page.wait_for_load_state("networkidle")
        if ready:
            self.page.wait_for_selector(ready)
        return self.record(name, mark, shot=shot)

    def record(self, name: str, mark: int, *, shot: bool = True) -> list[dict[str, Any]]:
        self.page.wait_for_load_state("networkidle")
        # the server logs a request once its answer is out: wait until the log is quiet
        seen = -1
        while seen != self.console.timed.mark():
            seen = self.console.timed.mark()
            time.sleep(0.15)
        calls = self.console.timed.since(mark)
        self.console.pages.setdefault(name, []).extend(calls)
        if shot:
            self.shot(name)
        # Timings are recorded (test-artifacts/page-timings.json), not asserted: a shared CI
        # machine's load is not the page's speed. `regioncare bench console` measures them.
        assert not self.errors, f"{name}: script errors {self.errors}"
        return calls

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.context.close()


@pytest.fixture
def session_as(console: Console, browser: Any) -> Iterator[Any]:
    opened: list[Session] = []

    def open_(role: str, institution: str | None = None, **kw: Any) -> Session:
        s = Session(console, browser, console.account(role, institution), **kw)
        opened.append(s)
        s.login()
        return s

    yield open_
    for s in opened:
        s.close()
