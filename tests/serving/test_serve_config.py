"""The cluster configuration is generated, current, and valid for Ray Serve."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.serve.schema import ServeDeploySchema

from serving.serve_config import render

CONFIG = Path(__file__).resolve().parents[2] / "serving" / "serve_config.yaml"


def test_committed_config_matches_the_generator() -> None:
    assert CONFIG.read_text() == render()


def test_config_is_valid_for_ray_serve() -> None:
    schema = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    app = schema.applications[0]
    assert app.import_path == "serving.app:app_builder"
    autoscaling = app.deployments[0].autoscaling_config
    assert (autoscaling["max_replicas"] if isinstance(autoscaling, dict)
            else autoscaling.max_replicas) >= 2
