"""Builds and runs the serving application on a local Ray instance (the embedded default).

On a cluster the same deployments run from ``serving/serve_config.yaml`` with
``serve deploy``; nothing here is needed there.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from regioncare.settings import Settings

log = logging.getLogger("regioncare.serving")
APP_NAME = "referral"
ROUTE = "/recommend"
SCHEDULER_APP = "scheduler"
SCHEDULER_ROUTE = "/schedule"


def build_app(settings: Settings):  # -> ray.serve.Application
    from serving.deployments import ReferralRecommender

    return ReferralRecommender.options(num_replicas=settings.serve_replicas,
                                       user_config={"reload_interval_s": 5.0}).bind(settings)


def build_scheduler_app(settings: Settings):  # -> ray.serve.Application
    from serving.deployments import SpecialistScheduler

    return SpecialistScheduler.options(user_config={"reload_interval_s": 5.0}).bind(settings)


def scheduler_builder(args: dict[str, str]):  # -> ray.serve.Application
    """Entry point of the scheduler application for ``serve deploy`` on a cluster."""
    from serving.deployments import SpecialistScheduler

    interval = float(args.get("reload_interval_s", 5.0))
    return SpecialistScheduler.options(user_config={"reload_interval_s": interval}).bind(
        Settings())


def app_builder(args: dict[str, str]):  # -> ray.serve.Application
    """Entry point for ``serve deploy serve_config.yaml`` on a cluster.

    Settings come from the cluster's environment (``REGIONCARE_*`` in the runtime env);
    ``args`` may override ``reload_interval_s``.
    """
    from serving.deployments import ReferralRecommender

    settings = Settings()
    interval = float(args.get("reload_interval_s", 5.0))
    return ReferralRecommender.options(user_config={"reload_interval_s": interval}).bind(settings)


def start(settings: Settings) -> None:
    """Start Ray (bounded to this machine's cores) and Serve on loopback; returns when ready."""
    import ray
    from ray import serve

    ray_dir = ray_temp_dir(settings)
    ray_dir.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(num_cpus=settings.ray_num_cpus, include_dashboard=False,
                 _temp_dir=str(ray_dir), logging_level=logging.WARNING,
                 log_to_driver=False, configure_logging=False)
    serve.start(http_options={"host": settings.serve_host, "port": settings.serve_port})
    serve.run(build_app(settings), name=APP_NAME, route_prefix=ROUTE, blocking=False)
    serve.run(build_scheduler_app(settings), name=SCHEDULER_APP, route_prefix=SCHEDULER_ROUTE,
              blocking=False)


def ray_temp_dir(settings: Settings) -> Path:
    """Ray's scratch folder: under ``var/`` unless that path is too long for Ray's sockets.

    Ray puts unix sockets at ``<dir>/session_<date>_<pid>/sockets/plasma_store``; a socket
    path may not exceed 107 bytes, so deep homes (e.g. pytest's) move to a short /tmp path.
    """
    preferred = settings.home / "ray"
    if len(str(preferred)) <= 40:
        return preferred
    digest = hashlib.sha1(str(settings.home).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"regioncare-ray-{digest}"


def stop() -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
