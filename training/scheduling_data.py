"""Training rows for the scheduling-risk model (no-show and visit length), read through Feast.

Labels come from the offline ``appointments`` table (the receiving institutions' visit
history: ``fulfilled`` with its real length, or ``noshow``); the referral each visit serves
gives urgency and diagnosis. Every feature comes from the ``specialist_scheduling_v1``
feature service as of the booking time (``event_timestamp``): the patient profile and the
practitioner profile views. The booking itself gives lead time, hour and weekday; the
patient-practitioner distance is measured from the patient's home region centroid.

Lightning-free: serving assembles the same raw rows from online features with
``raw_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.scheduling.problem import haversine_km
from regioncare.settings import Settings

SERVICE = "specialist_scheduling_v1"
PATIENT_VIEW = "patient_profile_fv"
PRACTITIONER_VIEW = "practitioner_profile_fv"
LOCAL_TZ = "Asia/Shanghai"  # clinic hours and weekdays are local
LABELLED = ("fulfilled", "noshow")


@dataclass
class RiskSet:
    frame: pd.DataFrame  # one row per labelled appointment, sorted by start
    rows: dict[str, list[Any]]  # raw features (models.scheduling.risk.RAW)
    noshow: np.ndarray  # 1.0 = no-show
    minutes: np.ndarray  # real length; NaN unless fulfilled
    rows_without_features: dict[str, int] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> dict[str, list[Any]]:
        return {k: [v[i] for i in idx] for k, v in self.rows.items()}


def load_labelled(settings: Settings) -> pd.DataFrame:
    path = settings.offline_dir / "appointments.parquet"
    if not path.exists():
        return pd.DataFrame()
    appts = pd.read_parquet(path)
    appts = appts[appts["status"].isin(LABELLED)]
    ref = pd.read_parquet(settings.offline_dir / "referrals.parquet",
                          columns=["referral_id", "urgency", "diagnosis_code"])
    appts = appts.merge(ref, on="referral_id", how="left")
    return appts.sort_values(["start", "appointment_id"]).reset_index(drop=True)


def region_centroids(settings: Settings) -> dict[str, tuple[float, float]]:
    regions = pd.read_parquet(settings.offline_dir / "regions.parquet")
    return {str(r.region): (float(r.lat), float(r.lon)) for r in regions.itertuples()}


def raw_rows(frame: pd.DataFrame, patient: pd.DataFrame, practitioner: pd.DataFrame,
             regions: dict[str, tuple[float, float]]) -> dict[str, list[Any]]:
    """Raw model inputs. ``frame``: start, event_timestamp (booking time), urgency,
    diagnosis_code; ``patient`` / ``practitioner``: the two views' rows, aligned."""
    start = pd.to_datetime(frame["start"], utc=True)
    booked = pd.to_datetime(frame["event_timestamp"], utc=True)
    local = start.dt.tz_convert(LOCAL_TZ)
    home = patient["home_region"].astype(object).tolist() if "home_region" in patient else [
        None] * len(frame)
    hlat = np.array([regions.get(str(h), (np.nan, np.nan))[0] for h in home], dtype=float)
    hlon = np.array([regions.get(str(h), (np.nan, np.nan))[1] for h in home], dtype=float)
    plat = pd.to_numeric(practitioner.get("lat"), errors="coerce").to_numpy(float)
    plon = pd.to_numeric(practitioner.get("lon"), errors="coerce").to_numpy(float)
    km = haversine_km(hlat, hlon, plat, plon)

    def col(df: pd.DataFrame, name: str) -> list[Any]:
        if name not in df:
            return [None] * len(frame)
        return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v
                for v in df[name].tolist()]

    return {
        "lead_days": ((start - booked).dt.total_seconds() / 86400.0).tolist(),
        "hour": local.dt.hour.tolist(),
        "weekday": local.dt.weekday.tolist(),
        "urgency": col(frame, "urgency"),
        "specialty": col(practitioner, "specialty"),
        "diagnosis_code": col(frame, "diagnosis_code"),
        "age_years": col(patient, "age_years"),
        "sex": col(patient, "sex"),
        "comorbidity_index": col(patient, "comorbidity_index"),
        "n_chronic": col(patient, "n_chronic"),
        "prior_referrals": col(patient, "prior_referrals"),
        "distance_km": [None if np.isnan(x) else float(x) for x in km],
        "tier": col(practitioner, "tier"),
        "title_rank": col(practitioner, "title_rank"),
        "mean_wait_days": col(practitioner, "mean_wait_days"),
    }


def build_set(store: Any, settings: Settings, frame: pd.DataFrame) -> RiskSet:
    """Point-in-time features of every labelled appointment, as of its booking."""
    from features.store import historical_features

    pat = historical_features(store, SERVICE, PATIENT_VIEW,
                              frame[["patient_id", "event_timestamp"]], join_key="patient_id")
    prac = historical_features(store, SERVICE, PRACTITIONER_VIEW,
                               frame[["practitioner_id", "event_timestamp"]],
                               join_key="practitioner_id")
    rows = raw_rows(frame, pat.frame, prac.frame, region_centroids(settings))
    return RiskSet(frame=frame, rows=rows,
                   noshow=(frame["status"] == "noshow").to_numpy(dtype=np.float64),
                   minutes=frame["minutes"].to_numpy(dtype=np.float64),
                   rows_without_features={**pat.rows_without_features,
                                          **prac.rows_without_features})


def time_split(frame: pd.DataFrame, *, test_fraction: float = 0.2
               ) -> tuple[np.ndarray, np.ndarray]:
    """Train on the earlier visits, hold out the most recent ones (no shuffling in time)."""
    cut = frame["start"].quantile(1 - test_fraction)
    idx = np.arange(len(frame))
    before = (frame["start"] < cut).to_numpy()
    return idx[before], idx[~before]
