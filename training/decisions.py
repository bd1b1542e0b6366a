"""Clinicians' and schedulers' decisions on suggestions, as labels for the next retraining.

A suggested specialist who was chosen and then accepted by the receiving side is a positive
example of the referral, like a historical referral that went well; declines are counted
and logged. Schedulers' decisions on the scheduling board (accept, adjust, reject, confirm,
and holds that expired) become 0/1 labels per (request, practitioner, slot)
(``load_schedule_decision_labels``); ``training.scheduling`` logs their counts with each
run. Only pseudonyms and codes are read: the app database's referral row carries
the regional pseudonym, never a name.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import create_engine, inspect, text

from regioncare.settings import Settings

QUERY = text("""
    SELECT d.subject_id, d.practitioner_id, d.institution_id, d.decision, d.model_version,
           d.at, r.patient_ref, r.diagnosis_code, r.urgency, r.institution_id AS origin
    FROM recommendation_decision d JOIN referral r ON r.id = d.subject_id
    WHERE d.subject_type = 'referral'
    ORDER BY d.at, d.id
""")
TIERS = {"T": 3, "S": 2, "C": 1}


def load_decision_labels(settings: Settings) -> tuple[pd.DataFrame, dict[str, int]]:
    """Accepted suggestions in the referral table's shape, and counts per decision."""
    engine = create_engine(settings.app_db_url)
    try:
        if not inspect(engine).has_table("recommendation_decision"):
            return pd.DataFrame(), {}
        with engine.connect() as conn:
            rows = pd.read_sql(QUERY, conn)
    finally:
        engine.dispose()
    if rows.empty:
        return pd.DataFrame(), {}
    counts = {str(k): int(v) for k, v in rows["decision"].value_counts().items()}
    # The last word on each (referral, practitioner) pair counts: chosen, then accepted.
    last = rows.groupby(["subject_id", "practitioner_id"], sort=False).tail(1)
    accepted = last[last["decision"] == "accepted"]
    at = pd.to_datetime(accepted["at"], utc=True)
    labels = pd.DataFrame({
        "referral_id": "decision-" + accepted["subject_id"],
        "event_timestamp": at,
        "patient_id": accepted["patient_ref"],
        "origin_institution_id": accepted["origin"],
        "origin_tier": accepted["origin"].map(lambda c: TIERS.get(c.split("-")[-1][:1], 1)),
        "origin_region": accepted["origin"].map(lambda c: c.split("-")[0]),
        "diagnosis_code": accepted["diagnosis_code"],
        "diagnosis_chapter": accepted["diagnosis_code"].str[:1],
        "urgency": accepted["urgency"],
        "target_practitioner_id": accepted["practitioner_id"],
        "target_institution_id": accepted["institution_id"],
        "status": "accepted",
        "outcome": None,
        "decision_timestamp": at,
    })
    return labels.reset_index(drop=True), counts


SCHEDULE_QUERY = text("""
    SELECT d.referral_id, d.practitioner_id, d.institution_id, d.start, d.minutes, d.decision,
           d.suggested, d.score, d.no_show_risk, d.model_version, d.reason, d.at,
           r.patient_ref, r.urgency, r.diagnosis_code
    FROM schedule_decision d JOIN referral r ON r.id = d.referral_id
    ORDER BY d.at, d.id
""")
# A slot a scheduler took (accepted, picked instead, confirmed) is a positive example of
# the board's suggestion task; one they rejected or let expire is a negative.
SCHEDULE_LABEL = {"accepted": 1, "adjusted": 1, "confirmed": 1, "rejected": 0, "expired": 0}


def load_schedule_decision_labels(settings: Settings) -> tuple[pd.DataFrame, dict[str, int]]:
    """Schedulers' decisions on board slots: one row per (request, practitioner, start)
    with its last decision and a 0/1 label, and counts per decision."""
    engine = create_engine(settings.app_db_url)
    try:
        if not inspect(engine).has_table("schedule_decision"):
            return pd.DataFrame(), {}
        with engine.connect() as conn:
            rows = pd.read_sql(SCHEDULE_QUERY, conn)
    finally:
        engine.dispose()
    if rows.empty:
        return pd.DataFrame(), {}
    counts = {str(k): int(v) for k, v in rows["decision"].value_counts().items()}
    rows["start"] = pd.to_datetime(rows["start"], utc=True)
    last = rows.groupby(["referral_id", "practitioner_id", "start"], sort=False).tail(1)
    labels = last.assign(label=last["decision"].map(SCHEDULE_LABEL).astype("int64"),
                         event_timestamp=pd.to_datetime(last["at"], utc=True))
    return labels.reset_index(drop=True), counts
