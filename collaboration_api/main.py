"""The FastAPI application: areas' routers, problem details, health, metrics."""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from collaboration_api import problems
from collaboration_api.db import create_schema, make_engine, session_factory
from collaboration_api.directory.router import router as directory_router
from collaboration_api.referral.router import router as referral_router
from collaboration_api.serving_client import ServingClient
from regioncare import __version__
from regioncare.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    settings.check_secrets()
    settings.ensure_dirs()
    engine = make_engine(settings.app_db_url)
    create_schema(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        app.state.serving.close()
        engine.dispose()

    app = FastAPI(title="RegionCare collaboration API", version=__version__, lifespan=lifespan,
                  description="Referral, consultation and the other collaboration areas of a "
                              "regional medical alliance.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.serving = ServingClient(settings)
    problems.install(app)
    _install_observability(app)
    app.include_router(directory_router)
    app.include_router(referral_router)

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
    return checks


def _install_observability(app: FastAPI) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

    latency = Histogram("regioncare_api_request_seconds", "API latency by route",
                        ["method", "route", "status"])
    errors = Counter("regioncare_api_errors_total", "5xx answers by route", ["route"])

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
