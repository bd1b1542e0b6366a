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
