"""`regioncare bench console`: every console page and the API calls its script makes, as
each role, against the real app under uvicorn (and Ray Serve for recommendations) on the
platform of ``settings``. Issue 11's bar: every page answers in under 300 ms on `small`.

The platform is used as it is (build `small` first with `regioncare up --scale small`); what
is missing is built on the tiny scale, as `bench recommend` does. Times are client-side
(loopback HTTP, keep-alive), per request; a page's time is its slowest call.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import httpx
import numpy as np

from regioncare.settings import Settings

BUDGET_MS = 300.0


def _serve_api(settings: Settings, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    from collaboration_api.main import create_app

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def _pages(api: Any, accounts: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """page name -> (role, [HTML path, the GETs its script makes]) from live data."""
    clin, sched = accounts["clinician"], accounts["scheduler"]
    sent = api("GET", "/referrals?limit=100&side=sent", clin).json()
    items = sent.get("items", sent) if isinstance(sent, dict) else sent
    asked = api("GET", "/consults?limit=100", clin).json()
    consults = asked.get("items", asked) if isinstance(asked, dict) else asked
    pages: dict[str, tuple[str, list[str]]] = {
        "referrals": ("clinician", ["/console/referrals", "/referrals?limit=100&side=sent"]),
        "referral_new": ("clinician", ["/console/referrals/new", "/patients?limit=100"]),
        "consults": ("clinician", ["/console/consults", "/consults?limit=100"]),
        "scheduler": ("scheduler", ["/console/scheduler", "/console/api/board",
                                    "/schedule/board"]),
        "worklist_specialist": ("specialist", ["/console/worklist",
                                               "/referrals?limit=100&side=received",
                                               "/consults?limit=100"]),
        "worklist_radiologist": ("radiologist", ["/console/worklist", "/imaging/worklist",
                                                 "/imaging/studies?limit=100"]),
        "supervision": ("supervisor", ["/console/supervision", "/supervision/kpis",
                                       "/supervision/alerts"]),
        "audit": ("supervisor", ["/console/audit", "/supervision/audit?limit=50"]),
        "models": ("data_scientist", ["/console/models", "/models"]),
        "teaching": ("teacher", ["/console/teaching", "/teaching/courses?limit=100"]),
    }
    practitioners = api("GET", "/console/api/practitioners", sched).json()
    rows = practitioners.get("items", practitioners) if isinstance(practitioners, dict) \
        else practitioners
    if rows:
        pid = rows[0].get("id") or rows[0].get("practitioner_id")
        pages["calendar"] = ("scheduler", ["/console/calendar", "/console/api/practitioners",
                                           f"/console/api/calendar?days=14&practitioner_id={pid}"])
    if items:
        rid = items[0]["id"]
        pages["referral"] = ("clinician", [f"/console/referrals/{rid}", f"/referrals/{rid}",
                                           f"/referrals/{rid}/recommendations"])
        ref = items[0].get("patient_ref")
        if ref:
            pages["records"] = ("clinician", [f"/console/patients/{ref}/records",
                                              f"/patients/{ref}/records"])
    if consults:
        cid = consults[0]["id"]
        pages["consult"] = ("clinician", [f"/console/consults/{cid}", f"/consults/{cid}",
                                          f"/consults/{cid}/suggestions?k=10"])
    return pages


def run(settings: Settings, *, quick: bool = False) -> dict[str, Any]:
    from benchmarks.recommend import ensure_platform, free_port
    from collaboration_api.auth.service import seed_demo_users
    from serving import app as serving_app

    repeats = 3 if quick else 20
    ensure_platform(settings)
    accounts_list = seed_demo_users(settings)
    accounts: dict[str, str] = {}
    passwords: dict[str, str] = {}
    for a in accounts_list:
        accounts.setdefault(a["role"], a["username"])
        passwords[a["username"]] = a["password"]
    serving_app.start(settings)
    port = free_port()
    server, thread = _serve_api(settings, port)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=30.0)
    tokens: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the API did not start within 120 s")
            time.sleep(0.2)

        def api(method: str, path: str, user: str, **kw: Any) -> httpx.Response:
            if user not in tokens:
                got = client.post("/auth/token", data={"username": user,
                                                       "password": passwords[user]})
                got.raise_for_status()
                tokens[user] = got.json()["access_token"]
            return client.request(method, path, headers={
                "Authorization": f"Bearer {tokens[user]}"}, **kw)

        # A referral and a consultation of the clinician's, so that the detail and records
        # pages have a subject.
        clin = accounts["clinician"]
        patients = api("GET", "/patients?limit=5", clin).json()
        plist = patients.get("items", patients) if isinstance(patients, dict) else patients
        if plist:
            api("POST", "/referrals", clin, json={
                "patient_id": plist[0]["id"], "diagnosis_code": "I21.4", "urgency": "urgent",
                "reason": "bench console"})
            api("POST", "/consults", clin, json={
                "patient_id": plist[0]["id"], "diagnosis_code": "E11.9", "mode": "async",
                "question": "bench console: HbA1c 9.8 % on metformin, next step?"})
        pages = _pages(api, accounts)
        timings: dict[str, dict[str, list[float]]] = {}
        statuses: dict[str, int] = {}
        for round_no in range(repeats + 1):  # the first round warms caches and imports
            for name, (role, paths) in pages.items():
                user = accounts[role]
                for path in paths:
                    t = time.perf_counter()
                    resp = api("GET", path, user)
                    ms = (time.perf_counter() - t) * 1000
                    statuses[path] = resp.status_code
                    if round_no:
                        timings.setdefault(name, {}).setdefault(path, []).append(ms)
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
        serving_app.stop()

    def p(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)), 2)

    report: dict[str, Any] = {}
    for name, calls in timings.items():
        report[name] = {
            "role": pages[name][0],
            "p50_ms": max(p(v, 50) for v in calls.values()),
            "p99_ms": max(p(v, 99) for v in calls.values()),
            "calls": {path: {"p50_ms": p(v, 50), "p99_ms": p(v, 99), "status": statuses[path]}
                      for path, v in calls.items()},
        }
    worst = max((r["p99_ms"] for r in report.values()), default=None)
    failed = sorted(path for path, code in statuses.items() if code >= 400)
    return {
        "repeats": repeats, "budget_ms": BUDGET_MS,
        "region": _region_size(settings),
        "pages": len(report), "worst_page_p99_ms": worst,
        "median_page_p50_ms": round(statistics.median(r["p50_ms"] for r in report.values()), 2)
        if report else None,
        "pages_over_budget": sorted(n for n, r in report.items() if r["p99_ms"] >= BUDGET_MS),
        "failed_calls": failed,
        "by_page": report,
    }


def _region_size(settings: Settings) -> dict[str, Any]:
    from features.offline import read_region_meta

    try:
        meta = read_region_meta(settings)
    except Exception:  # an older platform without the meta file
        meta = {}
    out = {k: meta[k] for k in ("scale", "patients", "institutions") if k in meta}
    if "patients" not in out:
        import pandas as pd

        path = settings.offline_dir / "patients.parquet"
        if path.exists():
            out["patients"] = int(pd.read_parquet(path, columns=["patient_id"])
                                  ["patient_id"].nunique())
    return out
