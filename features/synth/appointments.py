"""Appointment history at the receiving institutions: who came, who did not, how long.

Each accepted referral's visit is an Appointment booked when the referral was accepted.
A patient may miss it (``noshow``); the visit is then rebooked a few days later. Attended
appointments (``fulfilled``) record their real length (the end time), which is what the
scheduler's duration model learns; future ones are ``booked``.

The hidden truth (no-show odds, expected minutes) depends only on what the platform can
see at booking time (lead time, urgency, age, distance, hour and weekday, comorbidity,
specialty) plus unobserved noise; ``ground_truth/appointments.csv`` keeps the true
probabilities for evaluation. A separate random stream (``[seed, 4, chunk]``) keeps every
other output of the generator unchanged.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from features.synth.preference import sigmoid

# Typical first specialist visit, minutes (assumption: outpatient clinic norms).
BASE_MINUTES = {
    "cardiology": 30, "endocrinology": 25, "respiratory": 25, "neurology": 35,
    "nephrology": 30, "gastroenterology": 25, "oncology": 40, "orthopaedics": 25,
    "general_surgery": 25, "paediatrics": 20, "obstetrics_gynaecology": 25, "psychiatry": 45,
    "rheumatology": 35,
}
# No-show logit terms (assumption, shaped by the outpatient no-show literature: longer lead
# times, younger adults, distance, late-afternoon and Monday slots raise it; urgency lowers).
NOSHOW_BIAS = -2.9
URGENCY_TERM = {"routine": 0.0, "urgent": -0.8, "emergency": -1.8}
GT_COLUMNS = ["appointment_id", "institution", "p_noshow", "expected_minutes", "status",
              "minutes"]


def _km(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2)
    return 6371.0 * 2 * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def _clinic_time(t: datetime, rng: np.random.Generator) -> datetime:
    """The next weekday clinic half-hour (08:00-11:30 or 13:00-16:30) on or after ``t``."""
    day = t.date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    half = int(rng.integers(0, 16))
    hour, minute = (8 + half // 2, 30 * (half % 2)) if half < 8 else (
        13 + (half - 8) // 2, 30 * (half % 2))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=t.tzinfo)


def age_term(age: np.ndarray) -> np.ndarray:
    return np.select([age < 18, age < 35, age < 50, age < 65], [0.2, 0.8, 0.4, 0.0], -0.3)


def make_appointments(rng: np.random.Generator, refs: pd.DataFrame, persons: list[dict], *,
                      as_of_dt: datetime, regions: pd.DataFrame, institutions: pd.DataFrame,
                      practitioners: pd.DataFrame, counters) -> pd.DataFrame:
    """Appointments of the accepted referrals in ``refs`` (rows with a visit)."""
    cols = ["appointment_id", "institution", "local_id", "practitioner_id", "created", "start",
            "end", "status", "referral_org", "referral_no", "p_noshow", "expected_minutes",
            "minutes"]
    seen = refs[refs["visit"].notna()] if len(refs) else refs
    if not len(seen):
        return pd.DataFrame(columns=cols)
    reg = regions.set_index("region")
    inst = institutions.set_index("institution")
    spec = practitioners.set_index("practitioner_id")["specialty"]
    n = len(seen)
    visit = list(seen["visit"])
    ages = np.array([persons[int(i)]["age"] for i in seen["person_index"]], dtype=float)
    ages -= np.array([(as_of_dt - v).days / 365.25 for v in visit])
    home = seen["home_region"].to_numpy()
    tinst = seen["target_institution"].to_numpy()
    km = _km(reg.loc[home, "lat"].to_numpy(float), reg.loc[home, "lon"].to_numpy(float),
             inst.loc[tinst, "lat"].to_numpy(float), inst.loc[tinst, "lon"].to_numpy(float))
    urg = seen["urgency"].to_numpy()
    charlson = seen["charlson"].to_numpy(float)
    # What does not depend on the slot, plus the patient's unobserved propensity.
    static = (NOSHOW_BIAS + np.array([URGENCY_TERM[u] for u in urg]) + age_term(ages)
              + 0.02 * km - 0.1 * charlson + rng.normal(0.0, 0.4, n))
    base = np.array([BASE_MINUTES.get(str(spec.get(t, "")), 30) for t in seen["target"]],
                    dtype=float)
    expected = base * np.exp(0.08 * charlson + 0.25 * (ages >= 75)
                             + 0.15 * (urg == "emergency") + 0.08 * (urg == "urgent"))
    minutes = np.clip(np.round(expected * np.exp(rng.normal(0.0, 0.22, n)) / 5) * 5, 10, 120)

    rows: list[dict] = []
    for j, r in enumerate(seen.itertuples()):
        created, start = r.booked, r.visit
        for attempt in range(3):  # a missed visit is rebooked; the third one is kept
            lead = max(0.0, (start - created).total_seconds() / 86400)
            p = float(sigmoid(static[j] + 0.5 * np.log1p(lead) + 0.4 * (start.hour >= 15)
                              + 0.3 * (start.weekday() == 0)))
            missed = bool(rng.random() < p) and attempt < 2
            status = "noshow" if missed else "fulfilled"
            mins = 30.0 if missed else float(minutes[j])
            if start >= as_of_dt:
                status, mins = "booked", 30.0
            aid = (f"AP-{r.target_institution.replace('-', '')}-"
                   f"{counters.next('ap', r.target_institution):07d}")
            rows.append({"appointment_id": aid, "institution": r.target_institution,
                         "local_id": r.target_local, "practitioner_id": r.target,
                         "created": created, "start": start,
                         "end": start + timedelta(minutes=mins), "status": status,
                         "referral_org": r.institution, "referral_no": r.source_id,
                         "p_noshow": round(p, 6), "expected_minutes": round(expected[j], 3),
                         "minutes": mins if status == "fulfilled" else None})
            if status != "noshow":
                break
            created = start + timedelta(days=1)
            start = _clinic_time(start + timedelta(days=float(rng.uniform(2, 9))), rng)
    return pd.DataFrame(rows, columns=cols)
