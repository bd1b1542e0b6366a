"""The same predictor mounted in plain FastAPI: the baseline Ray Serve is measured against.

Run with ``python -m serving.plain --port N``; it reads the same settings as everything else.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI

from regioncare.settings import Settings
from serving.schemas import RecommendRequest, RecommendResponse


def create_app(settings: Settings) -> FastAPI:
    from serving.predictor import ReferralPredictor

    predictor = ReferralPredictor(settings)
    predictor.start_watch()  # as in the Serve deployment: same work on both sides
    app = FastAPI(title="RegionCare recommender (plain)")

    @app.post("/recommend", response_model=RecommendResponse)
    def recommend(body: RecommendRequest) -> RecommendResponse:
        return predictor.recommend(body)

    @app.get("/recommend/health")
    def health() -> dict:
        return predictor.health()

    return app


def main() -> None:
    import uvicorn

    from regioncare.runtime import prepare_environment

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    prepare_environment(settings)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
