"""Ray Serve deployments: thin wrappers that hold a predictor and speak HTTP."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from regioncare.settings import Settings

log = logging.getLogger("regioncare.serving.requests")


@serve.deployment(
    name="ReferralRecommender",
    num_replicas=1,
    ray_actor_options={"num_cpus": 0.5},
    max_ongoing_requests=32,
    health_check_period_s=10,
)
class ReferralRecommender:
    def __init__(self, settings: Settings) -> None:
        from regioncare.runtime import prepare_environment
        from serving.predictor import ReferralPredictor

        prepare_environment(settings)
        self.predictor = ReferralPredictor(settings)
        self.predictor.start_watch()
        self.predictor.warm_up()

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Live settings from ``user_config`` (serve_config.yaml or ``serve.run``)."""
        self.predictor.reload_interval_s = float(user_config.get("reload_interval_s", 5.0))

    async def __call__(self, request: Request) -> JSONResponse:
        from pydantic import ValidationError

        from serving.schemas import RecommendRequest

        path = request.url.path.rstrip("/")
        if path.endswith("/health"):
            return JSONResponse(self.predictor.health())
        if path.endswith("/metrics"):
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
            from starlette.responses import Response

            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
        request_id = request.headers.get("X-Request-ID", "-")
        try:
            body = RecommendRequest.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"detail": str(exc).splitlines()[0]}, status_code=422)
        started = time.perf_counter()
        result = self.predictor.recommend(body)
        # One structured line per answer, joined to the API's log by the request id; only
        # pseudonymous ids and codes appear here.
        log.info(json.dumps({"event": "recommend", "request_id": request_id,
                             "model_version": result.model_version,
                             "degraded": result.degraded, "items": len(result.items),
                             "ms": round((time.perf_counter() - started) * 1000, 2)}))
        return JSONResponse(result.model_dump(mode="json"),
                            headers={"X-Request-ID": request_id})

    def check_health(self) -> None:
        """Serve replaces a replica whose predictor cannot answer at all."""
        if self.predictor.candidates is None or len(self.predictor.candidates) == 0:
            raise RuntimeError("predictor has no candidates: cannot score")


@serve.deployment(
    name="SpecialistScheduler",
    num_replicas=1,
    # Small: one board re-plan is a few hundred milliseconds of one core.
    ray_actor_options={"num_cpus": 0.25},
    max_ongoing_requests=8,
    health_check_period_s=10,
)
class SpecialistScheduler:
    """``POST /schedule/replan`` (batch), ``POST /schedule/suggest`` (one request),
    ``GET /schedule/health``: a thin wrapper over ``serving.scheduler.SchedulerPredictor``."""

    def __init__(self, settings: Settings) -> None:
        from regioncare.runtime import prepare_environment
        from serving.scheduler import SchedulerPredictor

        prepare_environment(settings)
        self.predictor = SchedulerPredictor(settings)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.predictor.reload_interval_s = float(user_config.get("reload_interval_s", 5.0))

    async def __call__(self, request: Request) -> JSONResponse:
        from pydantic import ValidationError

        from serving.schemas import ReplanRequest, SuggestRequest

        path = request.url.path.rstrip("/")
        if path.endswith("/health"):
            return JSONResponse(self.predictor.health())
        request_id = request.headers.get("X-Request-ID", "-")
        kind = "replan" if path.endswith("/replan") else "suggest" if path.endswith(
            "/suggest") else None
        if kind is None:
            return JSONResponse({"detail": f"no route {path}"}, status_code=404)
        try:
            raw = await request.json()
            body = (ReplanRequest if kind == "replan" else SuggestRequest).model_validate(raw)
        except (ValidationError, ValueError) as exc:
            return JSONResponse({"detail": str(exc).splitlines()[0]}, status_code=422)
        result = self._answer(kind, body, request_id)
        return JSONResponse(result, headers={"X-Request-ID": request_id})

    def replan(self, body: dict[str, Any]) -> dict[str, Any]:
        """For deployment handles: a ReplanRequest as a dict -> a ReplanResponse dict."""
        from serving.schemas import ReplanRequest

        return self._answer("replan", ReplanRequest.model_validate(body), "-")

    def suggest(self, body: dict[str, Any]) -> dict[str, Any]:
        from serving.schemas import SuggestRequest

        return self._answer("suggest", SuggestRequest.model_validate(body), "-")

    def _answer(self, kind: str, body: Any, request_id: str) -> dict[str, Any]:
        started = time.perf_counter()
        result = (self.predictor.replan(body) if kind == "replan"
                  else self.predictor.suggest(body))
        log.info(json.dumps({"event": f"schedule.{kind}", "request_id": request_id,
                             "model_version": result.model_version,
                             "degraded": result.degraded,
                             "ms": round((time.perf_counter() - started) * 1000, 2)}))
        return result.model_dump(mode="json")
