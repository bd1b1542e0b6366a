"""The API's side of serving: one HTTP call to the recommender on Ray Serve."""

from __future__ import annotations

import httpx

from regioncare.settings import Settings
from serving.schemas import RecommendRequest, RecommendResponse


class ServingUnavailable(Exception):
    pass


class ServingClient:
    def __init__(self, settings: Settings) -> None:
        self.base = settings.serve_url
        self.client = httpx.Client(timeout=settings.serve_timeout_s)

    def recommend(self, req: RecommendRequest, *, request_id: str | None = None
                  ) -> RecommendResponse:
        headers = {"X-Request-ID": request_id} if request_id else {}
        try:
            resp = self.client.post(f"{self.base}/recommend", json=req.model_dump(),
                                    headers=headers)
        except httpx.HTTPError as exc:
            raise ServingUnavailable(f"recommender unreachable at {self.base}: {exc}") from exc
        if resp.status_code != 200:
            raise ServingUnavailable(f"recommender answered {resp.status_code}: {resp.text[:200]}")
        return RecommendResponse.model_validate(resp.json())

    def ready(self) -> bool:
        try:
            return self.client.get(f"{self.base}/recommend/health").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.client.close()
