"""The supervision figures on ``/metrics``: a Prometheus collector that computes them on
each scrape from the database of the running app (the whole alliance and each
institution, all time; SLA breaches by kind; suggestion acceptance by model version; the
champion referral model's feature drift, from the drift cache).

The collector is registered once per process; the app whose lifespan started last is the
one it reads (tests run several apps in one process, one after the other).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

_current: dict[str, Any] = {}


class KpiCollector:
    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        sessions = _current.get("sessions")
        if sessions is None:
            return
        from collaboration_api.supervision import drift, kpis

        kpi = GaugeMetricFamily("regioncare_kpi", "supervision figures (see /supervision/kpis)",
                                labels=["scope", "figure"])
        models = GaugeMetricFamily("regioncare_kpi_model_suggestions",
                                   "choices after suggestions, by model version",
                                   labels=["model_version", "figure"])
        breaches = GaugeMetricFamily("regioncare_sla_breaches", "open SLA breaches",
                                     labels=["kind"])
        psi = GaugeMetricFamily("regioncare_feature_drift_psi",
                                "PSI of each feature of the champion referral model, recent "
                                "window vs training window (see /supervision/drift)",
                                labels=["model_version", "feature"])
        worst = GaugeMetricFamily("regioncare_feature_drift_worst_psi",
                                  "largest feature PSI of the champion referral model",
                                  labels=["model_version"])
        with sessions() as db:
            for code in [None, *kpis.institutions_seen(db)]:
                result = kpis.figures(db, kpis.Scope(institution=code))
                for name in kpis.FIGURES:
                    if result.get(name) is not None:
                        kpi.add_metric([code or "all", name], float(result[name]))
                if code is None:
                    for version, row in result["model_suggestions"].items():
                        for k in ("choices", "suggested", "acceptance_rate"):
                            if row.get(k) is not None:
                                models.add_metric([version, k], float(row[k]))
            counts: dict[str, int] = {}
            for alert in kpis.alerts(db):
                counts[alert["kind"]] = counts.get(alert["kind"], 0) + 1
            settings = _current.get("settings")
            if settings is not None:
                counts[drift.ALERT_KIND] = len(drift.alerts(settings))
                _drift_gauges(settings, psi, worst)
            for kind in ("referral.acceptance", "consult.opinion", "imaging.report",
                         drift.ALERT_KIND):
                breaches.add_metric([kind], float(counts.get(kind, 0)))
        yield kpi
        yield models
        yield breaches
        yield psi
        yield worst


def _drift_gauges(settings: Any, psi: Any, worst: Any) -> None:
    """From the drift cache; nothing when there is no champion or data (or it fails)."""
    from collaboration_api.supervision import drift

    try:
        result = drift.cached(settings)
    except Exception:  # DriftUnavailable, or a failed read: the other figures still count
        return
    for row in result["features"]:
        if row["psi"] is not None:
            psi.add_metric([result["model_version"], row["name"]], float(row["psi"]))
    if result["worst"] is not None:
        worst.add_metric([result["model_version"]], float(result["worst"]["psi"]))


@functools.cache
def _register() -> KpiCollector:
    from prometheus_client import REGISTRY

    collector = KpiCollector()
    REGISTRY.register(collector)  # type: ignore[arg-type]
    return collector


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Router lifespan: point the collector at this app's database while it runs."""
    _register()
    sessions = app.state.sessions
    _current["sessions"] = sessions
    _current["settings"] = app.state.settings  # where the drift check reads its data
    try:
        yield
    finally:
        if _current.get("sessions") is sessions:
            _current.pop("sessions", None)
            _current.pop("settings", None)
