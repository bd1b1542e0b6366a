"""The FastAPI application: areas' routers, problem details, health, metrics."""

from __future__ import annotations

import functools
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from collaboration_api import problems
from collaboration_api.auth.deps import current_user
from collaboration_api.auth.router import router as auth_router
from collaboration_api.console.router import router as console_router
from collaboration_api.consult.router import router as consult_router
from collaboration_api.db import make_engine, migrate, session_factory
from collaboration_api.directory.router import router as directory_router
from collaboration_api.fhir.router import router as fhir_router
from collaboration_api.hygiene import (
    IdempotencyMiddleware,
    RateLimitMiddleware,
    SizeLimitMiddleware,
)
from collaboration_api.imaging.router import router as imaging_router
from collaboration_api.internet_clinic.router import router as internet_clinic_router
from collaboration_api.joint_clinic.router import router as joint_clinic_router
from collaboration_api.models_api.router import router as models_router
from collaboration_api.notifications.router import router as notifications_router
from collaboration_api.records.access import ledger_access
from collaboration_api.records.router import router as records_router
from collaboration_api.referral.router import router as referral_router
from collaboration_api.schedule.router import router as schedule_router
from collaboration_api.serving_client import ServingClient
from collaboration_api.supervision.router import router as supervision_router
from collaboration_api.teaching.router import router as teaching_router
from collaboration_api.telemedicine.router import router as telemedicine_router
from ledger import router as ledger_router
from regioncare import __version__
from regioncare.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    settings.check_secrets()
    settings.ensure_dirs()
    engine = make_engine(settings.app_db_url)
    migrate(engine)  # Alembic: a new database is created, an older one upgraded

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        app.state.ledger.acquire()  # opened (deployed if new) here, not on the first read
        yield
        app.state.ledger.release()
        app.state.serving.close()
        engine.dispose()

    app = FastAPI(title="RegionCare collaboration API", version=__version__, lifespan=lifespan,
                  description="Referral, consultation and the other collaboration areas of a "
                              "regional medical alliance. Sign in at `POST /auth/token` and "
                              "send `Authorization: Bearer <token>`; send an "
                              "`Idempotency-Key` with every POST you may retry. Errors are "
                              "RFC 9457 problem details.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.serving = ServingClient(settings)
    app.state.ledger = ledger_access(settings)  # shared by the process's apps on this home
    problems.install(app)
    # Added innermost first: observability sees every answer, 413 and 429 included.
    app.add_middleware(IdempotencyMiddleware, settings=settings, sessions=app.state.sessions)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(SizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    _install_observability(app)
    for router in (auth_router, directory_router, referral_router, consult_router,
                   telemedicine_router, notifications_router, supervision_router, fhir_router,
                   models_router, console_router, imaging_router, joint_clinic_router,
                   internet_clinic_router, teaching_router, records_router):
        app.include_router(router)
    app.include_router(schedule_router)
    # the access log's roots and proofs, for signed-in users only
    app.include_router(ledger_router.router, dependencies=[Depends(current_user)])
    app.dependency_overrides[ledger_router.get_access_log] = lambda: app.state.ledger.ledger.log

    _document_idempotency(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        checks = _readiness(app)
        ready = all(c["ok"] for c in checks.values())
        degraded = [name for name, c in checks.items() if not c["ok"]]
        return JSONResponse({"ready": ready, "degraded": degraded, "checks": checks},
                            status_code=200 if ready else 503)

    return app


def _document_idempotency(app: FastAPI) -> None:
    """Every POST (but the token endpoints) takes an Idempotency-Key: say so in OpenAPI."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path, ops in schema.get("paths", {}).items():
            post = ops.get("post")
            if post is None or path.startswith("/auth/"):
                continue
            post.setdefault("parameters", []).append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "example": "9b2f6a3e-5c1d-4d7e-8f00-2a7c1b9e4d21",
                "description": "Retry-safe POST: a retry with the same key and body gets "
                               "the first answer (header Idempotent-Replayed: true); the "
                               "same key with another body is 422; while the first is "
                               "still running, 409."})
            post.setdefault("responses", {}).setdefault("409", problems.PROBLEM_RESPONSES[409])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _readiness(app: FastAPI) -> dict[str, dict[str, Any]]:
    from sqlalchemy import text

    settings: Settings = app.state.settings
    checks: dict[str, dict[str, Any]] = {}
    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": str(exc)[:200]}
    online = settings.feast_dir / "online.db"
    checks["feature_store"] = {"ok": online.exists() or settings.online_store != "sqlite"}
    checks["serving"] = {"ok": app.state.serving.ready()}
    try:
        log = app.state.ledger.ledger.log
        checks["ledger"] = {"ok": True, "access_log_size": log.size}
    except problems.Problem as exc:
        checks["ledger"] = {"ok": False, "detail": exc.detail[:200]}
    return checks


@functools.cache
def _metrics() -> tuple[Any, Any]:
    """Process-wide collectors: several apps in one process (tests) share them."""
    from prometheus_client import Counter, Histogram

    return (Histogram("regioncare_api_request_seconds", "API latency by route",
                      ["method", "route", "status"]),
            Counter("regioncare_api_errors_total", "5xx answers by route", ["route"]))


def _install_observability(app: FastAPI) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    latency, errors = _metrics()

    @app.middleware("http")
    async def observe(request: Request, call_next):  # type: ignore[no-untyped-def]
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - started)
        if response.status_code >= 500:
            errors.labels(path).inc()
        response.headers["X-Request-ID"] = request_id
        return response

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
