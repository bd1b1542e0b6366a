"""Feature drift of the champion referral model: the population stability index (PSI) of
each feature it reads, a recent window against the window the champion was trained on.

The populations are what the model sees. Per referral: the request (urgency, origin tier,
diagnosis chapter) and the patient's profile as of the referral (offline ``referrals`` and
``patients`` tables, joined point-in-time as Feast does for training). Per candidate: the
practitioner profile snapshots of the window (``practitioners``; the latest one before the
window's end when none falls inside). Numeric features are cut at the training window's
deciles; categorical ones are compared category by category (a missing value is one).

The training window is the ``data_window`` the training run logged to MLflow; the recent
window is the ``days`` before ``end`` (now). Results are cached for ``CACHE_S``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from regioncare.settings import Settings

log = logging.getLogger("regioncare.supervision")

# Rule of thumb for PSI: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major shift. 0.2 raises the
# alert while a shift is still "moderate", before the model is badly off.
PSI_ALERT = 0.2
RECENT_DAYS = 30
BINS = 10  # deciles of the training window
EPS = 1e-4  # floor of a bin's share: an empty bin would make PSI infinite
MIN_ROWS = 20  # fewer rows in a window give a PSI that is mostly noise
CACHE_S = 60.0  # reads parquet and the registry: at most once a minute per window
MISSING = "(missing)"
ALERT_KIND = "model.drift"


@dataclass(frozen=True)
class Feature:
    name: str
    view: str  # the feature view it comes from ("request": the referral itself)
    kind: str  # numeric | categorical
    population: str  # referral | candidate
    # A count that only grows with the platform's history (prior referrals) drifts by
    # construction: it is reported but raises no alert (it fired on every fresh platform).
    alerting: bool = True


PATIENT, PRACTITIONER = "patient_profile_fv", "practitioner_profile_fv"
# What the ranker reads (models.referral.encoding), by population.
FEATURES = (
    Feature("age_years", PATIENT, "numeric", "referral"),
    Feature("n_chronic", PATIENT, "numeric", "referral"),
    Feature("comorbidity_index", PATIENT, "numeric", "referral"),
    Feature("prior_referrals", PATIENT, "numeric", "referral", alerting=False),
    Feature("sex", PATIENT, "categorical", "referral"),
    Feature("home_region", PATIENT, "categorical", "referral"),
    Feature("urgency", "request", "categorical", "referral"),
    Feature("origin_tier", "request", "categorical", "referral"),
    Feature("diagnosis_chapter", "request", "categorical", "referral"),
    Feature("title_rank", PRACTITIONER, "numeric", "candidate"),
    Feature("experience_years", PRACTITIONER, "numeric", "candidate"),
    Feature("tier", PRACTITIONER, "numeric", "candidate"),
    Feature("n_languages", PRACTITIONER, "numeric", "candidate"),
    Feature("referrals_received_365d", PRACTITIONER, "numeric", "candidate"),
    Feature("acceptance_rate", PRACTITIONER, "numeric", "candidate"),
    Feature("good_outcome_rate", PRACTITIONER, "numeric", "candidate"),
    Feature("mean_wait_days", PRACTITIONER, "numeric", "candidate"),
    Feature("weekly_capacity", PRACTITIONER, "numeric", "candidate"),
    Feature("specialty", PRACTITIONER, "categorical", "candidate"),
)


class DriftUnavailable(Exception):
    """No champion, no logged training window, or no data to compare (a 404 to callers)."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title, self.detail = title, detail


# -- the index itself -------------------------------------------------------------------------

def psi(expected: ArrayLike, actual: ArrayLike) -> float:
    """PSI = sum over bins of (a - e) * ln(a / e), on the shares of two sets of counts over
    the same bins; shares are floored at ``EPS``."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi needs two non-empty count vectors over the same bins")
    e = np.maximum(e / e.sum(), EPS)
    a = np.maximum(a / a.sum(), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_bins(train: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges: the training values' quantiles, ties merged (a discrete feature
    gets fewer bins)."""
    values = train[~np.isnan(train)]
    if len(values) == 0:
        return np.asarray([], dtype=np.float64)
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    nan = np.isnan(values)
    # side="left": a value equal to an edge falls in the bin that edge closes.
    idx = np.searchsorted(edges, values[~nan], side="left")
    return np.append(np.bincount(idx, minlength=len(edges) + 1), nan.sum())


def numeric_psi(train: ArrayLike, recent: ArrayLike, bins: int = BINS
                ) -> tuple[float, int]:
    """(PSI, number of bins) with the bins cut at the training window's quantiles."""
    t = np.asarray(train, dtype=np.float64)
    r = np.asarray(recent, dtype=np.float64)
    edges = numeric_bins(t, bins)
    e, a = _bin_counts(t, edges), _bin_counts(r, edges)
    if e[-1] == 0 and a[-1] == 0:  # no missing values on either side: no such bin
        e, a = e[:-1], a[:-1]
    return psi(e, a), len(e)


def categorical_psi(train: Sequence[Any], recent: Sequence[Any]) -> tuple[float, int]:
    """(PSI, number of categories) over the categories seen in either window."""
    t = pd.Series(list(train), dtype="object").map(_category)
    r = pd.Series(list(recent), dtype="object").map(_category)
    cats = sorted(set(t) | set(r))
    return psi(t.value_counts().reindex(cats, fill_value=0).to_numpy(),
               r.value_counts().reindex(cats, fill_value=0).to_numpy()), len(cats)


def _category(value: Any) -> str:
    return MISSING if pd.isna(value) else str(value)


# -- the champion and its training window ---------------------------------------------------

@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    start: pd.Timestamp
    end: pd.Timestamp
    feature_service: str | None


def champion(settings: Settings) -> Champion:
    """The champion version and the data window its training run logged."""
    name = settings.referral_model_name
    if not (settings.mlflow_dir / "mlflow.db").exists():  # no registry yet: skip MLflow
        raise DriftUnavailable("No champion model", f"no model registry: {name} has no "
                                                    "champion to compare against")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training import registry

    registry.configure(settings)
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, registry.CHAMPION)
        params = client.get_run(mv.run_id).data.params if mv.run_id else {}
    except MlflowException:
        raise DriftUnavailable("No champion model",
                               f"{name} has no champion version") from None
    window = params.get("data_window", "")
    try:
        start, end = (pd.Timestamp(part.strip()) for part in window.split(" .. "))
    except ValueError:
        raise DriftUnavailable("No training window", f"{name} version {mv.version} logged "
                                                     "no data window") from None
    return Champion(name, str(mv.version), _utc(start), _utc(end),
                    params.get("feature_service"))


def _utc(ts: Any) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# -- the populations --------------------------------------------------------------------------

def _read(settings: Settings, name: str, columns: list[str],
          filters: list[tuple[str, str, Any]] | None = None) -> pd.DataFrame:
    path = settings.offline_dir / f"{name}.parquet"
    if not path.exists():
        raise DriftUnavailable("No data", f"no offline table {name} (ingest a region first)")
    return pd.read_parquet(path, columns=columns, filters=filters)


def referral_population(settings: Settings, windows: list[tuple[pd.Timestamp, pd.Timestamp]]
                        ) -> list[pd.DataFrame]:
    """Per window (start and end inclusive), its referrals with the request's features and
    the patient's profile as of the referral."""
    refs = _read(settings, "referrals", ["referral_id", "event_timestamp", "patient_id",
                                         "origin_tier", "urgency", "diagnosis_chapter"])
    refs["event_timestamp"] = pd.to_datetime(refs["event_timestamp"], utc=True)
    parts = [refs[(refs["event_timestamp"] >= s) & (refs["event_timestamp"] <= e)]
             for s, e in windows]
    wanted = sorted(set().union(*(set(p["patient_id"].dropna()) for p in parts)))
    cols = ["patient_id", "event_timestamp"] + [
        f.name for f in FEATURES if f.view == PATIENT]
    patients = _read(settings, "patients", cols, [("patient_id", "in", wanted)]
                     if wanted else None)
    patients["event_timestamp"] = pd.to_datetime(patients["event_timestamp"], utc=True)
    patients = patients.sort_values("event_timestamp")
    out = []
    for part in parts:
        if part.empty or patients.empty:
            out.append(part.assign(**dict.fromkeys(cols[2:], pd.NA)))
            continue
        # Backward as-of join: the profile row at or before the referral, as training has.
        out.append(pd.merge_asof(part.sort_values("event_timestamp"), patients,
                                 on="event_timestamp", by="patient_id",
                                 direction="backward"))
    return out


def candidate_population(settings: Settings,
                         windows: list[tuple[pd.Timestamp, pd.Timestamp]]
                         ) -> list[pd.DataFrame]:
    """Per window, the candidates' (specialists') profile snapshots inside it, or the
    latest snapshot before its end when none falls inside."""
    from training.referral_data import NON_CANDIDATE_SPECIALTIES

    cols = ["practitioner_id", "event_timestamp"] + [
        f.name for f in FEATURES if f.view == PRACTITIONER]
    prac = _read(settings, "practitioners", cols)
    prac["event_timestamp"] = pd.to_datetime(prac["event_timestamp"], utc=True)
    prac = prac[~prac["specialty"].isin(NON_CANDIDATE_SPECIALTIES)]
    out = []
    for start, end in windows:
        inside = prac[(prac["event_timestamp"] >= start) & (prac["event_timestamp"] <= end)]
        if inside.empty:
            before = prac[prac["event_timestamp"] <= end].sort_values("event_timestamp")
            inside = before.drop_duplicates("practitioner_id", keep="last")
        out.append(inside)
    return out


# -- the report -------------------------------------------------------------------------------

def compute(settings: Settings, *, days: int = RECENT_DAYS, end: datetime | None = None
            ) -> dict[str, Any]:
    """PSI per feature of the champion, recent window against training window."""
    champ = champion(settings)
    recent_end = _utc(end or datetime.now(UTC))
    recent_start = recent_end - pd.Timedelta(days=days)
    windows = [(champ.start, champ.end), (recent_start, recent_end)]
    train_refs, recent_refs = referral_population(settings, windows)
    if len(train_refs) < MIN_ROWS:
        raise DriftUnavailable("No data", f"{len(train_refs)} referrals in the training "
                                          f"window of version {champ.version}; drift needs "
                                          f"at least {MIN_ROWS}")
    if len(recent_refs) < MIN_ROWS:
        raise DriftUnavailable("No data", f"{len(recent_refs)} referrals between "
                                          f"{recent_start.isoformat()} and "
                                          f"{recent_end.isoformat()}; drift needs at least "
                                          f"{MIN_ROWS}")
    train_cands, recent_cands = candidate_population(settings, windows)
    frames = {"referral": (train_refs, recent_refs), "candidate": (train_cands, recent_cands)}
    features = []
    for f in FEATURES:
        train, recent = (frame[f.name] for frame in frames[f.population])
        row: dict[str, Any] = {"name": f.name, "view": f.view, "kind": f.kind,
                               "population": f.population, "training_rows": len(train),
                               "recent_rows": len(recent), "psi": None, "bins": None,
                               "alerting": f.alerting}
        if len(train) < MIN_ROWS or len(recent) < MIN_ROWS:
            row["skipped"] = f"fewer than {MIN_ROWS} rows in a window"
        else:
            if f.kind == "numeric":
                value, n = numeric_psi(pd.to_numeric(train, errors="coerce").to_numpy(float),
                                       pd.to_numeric(recent, errors="coerce").to_numpy(float))
            else:
                value, n = categorical_psi(train.tolist(), recent.tolist())
            row["psi"], row["bins"] = round(value, 4), n
        features.append(row)
    scored = [r for r in features if r["psi"] is not None and r["alerting"]]
    worst = max(scored, key=lambda r: r["psi"]) if scored else None
    return {
        "model": champ.name, "model_version": champ.version,
        "feature_service": champ.feature_service,
        "training_window": {"start": champ.start.to_pydatetime(),
                            "end": champ.end.to_pydatetime(), "referrals": len(train_refs),
                            "candidate_rows": len(train_cands)},
        "recent_window": {"start": recent_start.to_pydatetime(),
                          "end": recent_end.to_pydatetime(), "referrals": len(recent_refs),
                          "candidate_rows": len(recent_cands)},
        "threshold": PSI_ALERT,
        "features": features,
        "worst": {"name": worst["name"], "psi": worst["psi"]} if worst else None,
        "alert": bool(worst and worst["psi"] > PSI_ALERT),
        "computed_at": datetime.now(UTC),
    }


_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_first_seen: dict[tuple[Any, ...], datetime] = {}
_lock = threading.Lock()


def _key(settings: Settings, days: int, end: datetime | None) -> tuple[Any, ...]:
    return (str(settings.offline_dir), settings.mlflow_tracking_uri,
            settings.referral_model_name, days, end.isoformat() if end else None)


def cached(settings: Settings, *, days: int = RECENT_DAYS, end: datetime | None = None
           ) -> dict[str, Any]:
    """``compute`` at most once per ``CACHE_S`` per window; "unavailable" is cached too, so
    that alerts and /metrics do not ask the registry on every call."""
    key = _key(settings, days, end)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_S:
            value = hit[1]
        else:
            try:
                value = compute(settings, days=days, end=end)
            except DriftUnavailable as exc:
                value = exc
            _cache[key] = (time.monotonic(), value)
    if isinstance(value, DriftUnavailable):
        raise value
    return value


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _first_seen.clear()


def alerts(settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """The drift alert (none or one) in the shape of the SLA alerts: raised while the
    worst PSI of the default recent window is above ``PSI_ALERT``. Never raises: a failed
    drift check must not hide the other alerts."""
    try:
        result = cached(settings)
    except DriftUnavailable:
        return []
    except Exception:
        log.warning("feature drift check failed", exc_info=True)
        return []
    key = (*_key(settings, RECENT_DAYS, None), result["model_version"])
    with _lock:
        if not result["alert"]:
            _first_seen.pop(key, None)
            return []
        # "since": when this process first saw the drift above the threshold.
        since = _first_seen.setdefault(key, result["computed_at"])
    now = now or datetime.now(UTC)
    return [{"kind": ALERT_KIND, "subject_type": "model",
             "subject_id": f"{result['model']}/{result['model_version']}",
             "institution_id": None, "urgency": "urgent", "since": since,
             "hours_open": round(max(0.0, (now - since) / timedelta(hours=1)), 2),
             "sla_hours": 0.0, "feature": result["worst"]["name"],
             "value": result["worst"]["psi"], "threshold": PSI_ALERT}]
