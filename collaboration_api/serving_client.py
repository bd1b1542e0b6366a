"""The API's side of serving: one HTTP call to the recommender or the scheduler on Ray
Serve."""

from __future__ import annotations

import httpx

from regioncare.settings import Settings
from serving.schemas import (
    RecommendRequest,
    RecommendResponse,
    ReplanRequest,
    ReplanResponse,
    SuggestRequest,
    SuggestResponse,
)


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

    def schedule_replan(self, req: ReplanRequest, *, request_id: str | None = None
                        ) -> ReplanResponse:
        # The solver may use its whole time limit: wait that long on top of the usual.
        resp = self._post("/schedule/replan", req.model_dump(mode="json"), request_id,
                          timeout=self.client.timeout.read + req.time_limit_s
                          if self.client.timeout.read else None)
        return ReplanResponse.model_validate(resp)

    def schedule_suggest(self, req: SuggestRequest, *, request_id: str | None = None
                         ) -> SuggestResponse:
        return SuggestResponse.model_validate(
            self._post("/schedule/suggest", req.model_dump(mode="json"), request_id))

    def _post(self, path: str, body: dict, request_id: str | None,
              timeout: float | None = None) -> dict:
        headers = {"X-Request-ID": request_id} if request_id else {}
        kwargs = {"timeout": timeout} if timeout else {}
        try:
            resp = self.client.post(f"{self.base}{path}", json=body, headers=headers,
                                    **kwargs)
        except httpx.HTTPError as exc:
            raise ServingUnavailable(f"scheduler unreachable at {self.base}: {exc}") from exc
        if resp.status_code != 200:
            raise ServingUnavailable(f"scheduler answered {resp.status_code}: "
                                     f"{resp.text[:200]}")
        return resp.json()

    def ready(self) -> bool:
        try:
            return self.client.get(f"{self.base}/recommend/health").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.client.close()
