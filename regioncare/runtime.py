"""Process-wide preparation done once at an entry point, before heavy imports."""

from __future__ import annotations

import os

from regioncare.settings import Settings


def prepare_environment(settings: Settings) -> None:
    """Quiet third-party telemetry and keep their scratch files under ``var/``.

    Feast's metrics module otherwise makes ``/tmp/feast_metrics_*`` on import; MLflow and Ray
    send usage statistics unless told not to (and there is no network to send them to).
    """
    settings.ensure_dirs()
    metrics_dir = settings.home / "run" / "prometheus"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROCESS_DIR", str(metrics_dir))
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("FEAST_USAGE", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Uploading Ray's working dir is pointless on one machine; the packages are installed.
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
