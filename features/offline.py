"""Offline tables for the feature store, rebuilt from the institution record stores.

Files under ``settings.offline_dir`` (parquet, timestamps ``datetime64[ns, UTC]``, ids are
strings): patients, practitioners, institutions, referrals, slots, regions, appointments. See
``SCHEMAS`` for the exact columns and ``features/DATA_LAYER.md`` for their meaning.

Every rebuild reads all stores and rewrites every table (temp file, then ``os.replace``),
so it is idempotent: the same records give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.codes import (
    DIAGNOSIS_BY_CODE,
    TITLE_RANK,
    comorbidity_flags,
    icd10_chapter,
    is_chronic,
)
from features.deid import AGE_CAP, ages_vectorised, band, check_table, opaque_id, region_only
from features.records import list_stores

TS = pa.timestamp("ns", tz="UTC")
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
SCHEMAS: dict[str, pa.Schema] = {
    "patients": pa.schema([
        ("patient_id", pa.string()), ("event_timestamp", TS), ("age_years", pa.int64()),
        ("age_band", pa.string()), ("sex", pa.string()), ("home_region", pa.string()),
        ("n_conditions", pa.int64()), ("n_chronic", pa.int64()),
        ("has_hypertension", pa.int64()), ("has_diabetes", pa.int64()),
        ("has_copd", pa.int64()), ("has_chd", pa.int64()), ("has_ckd", pa.int64()),
        ("comorbidity_index", pa.int64()), ("prior_referrals", pa.int64())]),
    # Continuity of care: one row per accepted referral, at its decision time.
    "continuity": pa.schema([
        ("patient_id", pa.string()), ("event_timestamp", TS),
        ("seen_practitioners", pa.string())]),
    "practitioners": pa.schema([
        ("practitioner_id", pa.string()), ("event_timestamp", TS),
        ("institution_id", pa.string()), ("specialty", pa.string()),
        ("sub_specialty", pa.string()), ("title_rank", pa.int64()),
        ("experience_years", pa.int64()), ("tier", pa.int64()), ("region", pa.string()),
        ("lat", pa.float64()), ("lon", pa.float64()), ("n_languages", pa.int64()),
        ("referrals_received_365d", pa.int64()), ("acceptance_rate", pa.float64()),
        ("good_outcome_rate", pa.float64()), ("mean_wait_days", pa.float64()),
        ("weekly_capacity", pa.float64()), ("next_free_slot", TS)]),
    "institutions": pa.schema([
        ("institution_id", pa.string()), ("event_timestamp", TS), ("tier", pa.int64()),
        ("region", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("n_practitioners", pa.int64())]),
    "referrals": pa.schema([
        ("referral_id", pa.string()), ("event_timestamp", TS), ("patient_id", pa.string()),
        ("origin_institution_id", pa.string()), ("origin_tier", pa.int64()),
        ("origin_region", pa.string()), ("diagnosis_code", pa.string()),
        ("diagnosis_chapter", pa.string()), ("urgency", pa.string()),
        ("target_practitioner_id", pa.string()), ("target_institution_id", pa.string()),
        ("status", pa.string()), ("outcome", pa.string()), ("decision_timestamp", TS)]),
    "slots": pa.schema([
        ("slot_id", pa.string()), ("practitioner_id", pa.string()), ("start", TS),
        ("end", TS), ("status", pa.string())]),
    "regions": pa.schema([
        ("region", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("name_zh", pa.string()), ("name_en", pa.string())]),
    # Visits at the receiving institutions; event_timestamp = when it was booked, minutes =
    # the real length once fulfilled (labels of the scheduler's no-show and duration model).
    "appointments": pa.schema([
        ("appointment_id", pa.string()), ("event_timestamp", TS), ("patient_id", pa.string()),
        ("practitioner_id", pa.string()), ("institution_id", pa.string()),
        ("referral_id", pa.string()), ("start", TS), ("minutes", pa.float64()),
        ("status", pa.string())]),
}
# Referral statuses in which the specialist took the patient on (continuity of care).
ACCEPTED_STATUSES = ("accepted", "completed")
MAX_SEEN = 8  # most recent such specialists kept per patient
# Smoothing priors (pseudo-counts) so a practitioner with no history is not 0/0.
ACCEPT_PRIOR = (0.8, 5.0)  # mean, strength
OUTCOME_PRIOR = (0.6, 5.0)
WAIT_PRIOR = (7.0, 2.0)  # days, strength


def opaque_referral_id_from_key(key, institution: str, source_id: str) -> str:
    return "r_" + opaque_id(key, "referral", f"{institution}\x1f{source_id}")


def opaque_referral_id(settings, institution: str, source_id: str) -> str:
    """The offline ``referral_id`` of the referral ``source_id`` sent by ``institution``
    (evaluation maps ground truth with it)."""
    return opaque_referral_id_from_key(settings.pseudonym_key, institution, source_id)


# ----------------------------------------------------------------------------- meta
def _meta_path(settings) -> Path:
    return Path(settings.records_dir) / "_region.json"


def write_region_meta(settings, meta: dict) -> None:
    path = _meta_path(settings)
    old = json.loads(path.read_text()) if path.exists() else {}
    new = {**old, **meta}
    if "as_of" in old and "as_of" in meta:
        new["as_of"] = max(old["as_of"], meta["as_of"])
    if "regions" in old and "regions" in meta:
        new["regions"] = {**old["regions"], **meta["regions"]}
    if new != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(new, sort_keys=True, indent=1) + "\n")
        os.replace(tmp, path)


def read_region_meta(settings) -> dict:
    path = _meta_path(settings)
    return json.loads(path.read_text()) if path.exists() else {}


# ----------------------------------------------------------------------------- load
# Fields read per resource type (JSON1 json_extract in SQLite: no Python JSON parsing,
# only the columns the tables need are materialised).
LOAD_FIELDS: dict[str, list[str]] = {
    "Organization": ["id", "name", "tier", "region", "region_name_zh", "region_name_en"],
    "Location": ["id", "lat", "lon"],
    "Practitioner": ["id", "title", "experience_years", "#languages"],
    "PractitionerRole": ["id", "practitioner", "specialty", "sub_specialty"],
    "Schedule": ["id", "practitioner"],
    "Slot": ["id", "schedule", "practitioner", "start", "end", "status"],
    "Patient": ["id", "gender", "birthDate", "district", "registered",
                "patient_id_regional", "resident_id"],
    "Condition": ["id", "subject", "code", "onset"],
    "ServiceRequest": ["id", "subject", "performer", "reasonCode", "urgency", "authoredOn"],
    "Task": ["id", "focus", "status", "outcome", "lastModified", "execution_start"],
    "Appointment": ["id", "subject", "practitioner", "start", "end", "status", "created",
                    "based_on"],
}


def load_records(records_dir: Path) -> dict[str, pd.DataFrame]:
    """The needed fields of every record of every store, one DataFrame per resource type,
    with a ``holder`` column (the institution whose store holds the record). A field
    ``#name`` is the length of the JSON array ``name`` (e.g. the number of languages)."""
    import sqlite3

    parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for inst, path in list_stores(records_dir):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for rtype, flds in LOAD_FIELDS.items():
                cols = ", ".join(
                    f"json_array_length(body, '$.{f[1:]}')" if f.startswith("#")
                    else f"json_extract(body, '$.{f}')" for f in flds)
                rows = db.execute(f"SELECT {cols} FROM records WHERE resource_type=? "
                                  "ORDER BY record_id", (rtype,)).fetchall()
                if rows:
                    df = pd.DataFrame(rows, columns=[f.lstrip("#") for f in flds])
                    df["holder"] = inst
                    parts[rtype].append(df)
        finally:
            db.close()
    return {t: pd.concat(v, ignore_index=True) for t, v in parts.items()}


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True, errors="coerce").astype("datetime64[ns, UTC]")


def _local_midnight(d: pd.Series) -> pd.Series:
    x = pd.to_datetime(d, errors="coerce")
    return x.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _frame(recs: dict[str, pd.DataFrame], rtype: str, cols: list[str]) -> pd.DataFrame:
    df = recs.get(rtype)
    if df is None or df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols + ["holder"]})
    for c in cols:
        if c not in df.columns:
            df[c] = None
    return df


# ----------------------------------------------------------------------------- build
def build_tables(recs: dict[str, pd.DataFrame], key, as_of: datetime | None = None,
                 regions: dict[str, dict] | None = None) -> dict[str, pd.DataFrame]:
    """All offline tables from the loaded records. ``regions`` (from a manifest) gives
    region centroids and names; otherwise they come from the institutions' records."""
    org = _frame(recs, "Organization", ["id", "name", "tier", "region", "region_name_zh",
                                        "region_name_en"])
    loc = _frame(recs, "Location", ["id", "lat", "lon"])
    prac = _frame(recs, "Practitioner", ["id", "title", "experience_years", "languages"])
    role = _frame(recs, "PractitionerRole", ["id", "practitioner", "specialty",
                                             "sub_specialty"])
    sched = _frame(recs, "Schedule", ["id", "practitioner"])
    slot = _frame(recs, "Slot", ["id", "schedule", "practitioner", "start", "end", "status"])
    pat = _frame(recs, "Patient", ["id", "gender", "birthDate", "district", "registered",
                                   "patient_id_regional", "resident_id"])
    cond = _frame(recs, "Condition", ["id", "subject", "code", "onset"])
    sreq = _frame(recs, "ServiceRequest", ["id", "subject", "performer", "reasonCode",
                                           "urgency", "authoredOn"])
    task = _frame(recs, "Task", ["id", "focus", "status", "outcome", "lastModified",
                                 "execution_start"])

    # Institutions: holder -> (code, tier, region, lat, lon).
    org = org.sort_values(["holder", "id"]).drop_duplicates("holder")
    loc = loc.sort_values(["holder", "id"]).drop_duplicates("holder")
    inst = org.merge(loc[["holder", "lat", "lon"]], on="holder", how="left")
    inst["institution_id"] = inst["id"].astype(str)
    inst["tier"] = pd.to_numeric(inst["tier"], errors="coerce").fillna(0).astype("int64")
    inst_by_holder = inst.set_index("holder")

    # Practitioners (directory part).
    role = role.sort_values(["practitioner", "holder", "id"]).drop_duplicates("practitioner")
    pr = prac.sort_values(["id", "holder"]).drop_duplicates("id").merge(
        role[["practitioner", "specialty", "sub_specialty", "holder"]].rename(
            columns={"practitioner": "id", "holder": "role_holder"}), on="id", how="left")
    pr["inst_holder"] = pr["role_holder"].fillna(pr["holder"])
    pr = pr.merge(inst[["holder", "institution_id", "tier", "region", "lat", "lon"]],
                  left_on="inst_holder", right_on="holder", how="left",
                  suffixes=("", "_inst"))
    pr["practitioner_id"] = pr["id"].astype(str)
    prac_inst = dict(zip(pr["practitioner_id"], pr["institution_id"], strict=True))

    # Patients: record -> pseudonym.
    pat = pat.copy()
    pat_key = dict(zip(zip(pat["holder"], pat["id"], strict=True), pat["patient_id_regional"],
                       strict=True))

    # Referrals.
    task = task.sort_values(["holder", "focus", "lastModified", "id"]).drop_duplicates(
        ["holder", "focus"], keep="last")
    ref = sreq.merge(task[["holder", "focus", "status", "outcome", "lastModified",
                           "execution_start"]],
                     left_on=["holder", "id"], right_on=["holder", "focus"], how="inner")
    ref["patient_id"] = [pat_key.get((h, s)) for h, s in zip(ref["holder"], ref["subject"],
                                                              strict=True)]
    ref = ref[ref["patient_id"].notna()].copy()
    ref["referral_id"] = [opaque_referral_id_from_key(key, h, s)
                          for h, s in zip(ref["holder"], ref["id"], strict=True)]
    ref["event_timestamp"] = _utc(ref["authoredOn"])
    ref["decision_timestamp"] = _utc(ref["lastModified"])
    ref["visit"] = _utc(ref["execution_start"])
    ref["origin_institution_id"] = [inst_by_holder["institution_id"].get(h, h)
                                    for h in ref["holder"]]
    ref["origin_tier"] = [int(inst_by_holder["tier"].get(h, 0)) for h in ref["holder"]]
    ref["origin_region"] = [str(inst_by_holder["region"].get(h, "")) for h in ref["holder"]]
    ref["diagnosis_code"] = ref["reasonCode"].astype(str)
    ref["diagnosis_chapter"] = [icd10_chapter(c) or "" for c in ref["diagnosis_code"]]
    ref["target_practitioner_id"] = ref["performer"].astype(str)
    ref["target_institution_id"] = [prac_inst.get(p) for p in ref["target_practitioner_id"]]
    ref["outcome"] = ref["outcome"].where(ref["outcome"].isin(["good", "poor"]), None)
    ref = ref.sort_values(["event_timestamp", "referral_id"]).reset_index(drop=True)

    # The snapshot time "as of" the data.
    if as_of is None:
        last = pd.concat([ref["decision_timestamp"], ref["event_timestamp"]]).max() if len(
            ref) else pd.Timestamp("2000-01-01", tz="UTC")
        as_of = (last.floor("D") + pd.Timedelta(days=1)).to_pydatetime()
    as_of_ts = pd.Timestamp(as_of).tz_convert("UTC")
    start = ref["event_timestamp"].min() if len(ref) else as_of_ts - pd.Timedelta(days=30)
    month0 = pd.Timestamp(year=start.year, month=start.month, day=1, tz="UTC")
    snaps = list(pd.date_range(month0, as_of_ts, freq="MS", inclusive="left"))
    snaps.append(as_of_ts)

    patients = _patients_table(pat, cond, ref, pat_key, as_of_ts)
    slots = _slots_table(slot, sched)
    practitioners = _practitioners_table(pr, ref, slots, snaps)
    n_prac = pr.groupby("institution_id")["practitioner_id"].count()
    inst_rows = []
    for t in snaps:
        for r in inst.sort_values("institution_id").itertuples():
            inst_rows.append({"institution_id": r.institution_id, "event_timestamp": t,
                                  "tier": int(r.tier), "region": str(r.region),
                                  "lat": _f(r.lat), "lon": _f(r.lon),
                                  "n_practitioners": int(n_prac.get(r.institution_id, 0))})
    institutions = pd.DataFrame(inst_rows)
    reg = inst.groupby("region", sort=True).agg(
        lat=("lat", "mean"), lon=("lon", "mean"), name_zh=("region_name_zh", "first"),
        name_en=("region_name_en", "first")).reset_index()
    for code, info in sorted((regions or {}).items()):
        if code not in set(reg["region"]):
            reg = pd.concat([reg, pd.DataFrame([{"region": code}])], ignore_index=True)
        for k in ("lat", "lon", "name_zh", "name_en"):
            if info.get(k) not in (None, ""):
                reg.loc[reg["region"] == code, k] = info[k]
    reg = reg.sort_values("region").reset_index(drop=True)
    reg["lat"] = reg["lat"].astype(float).round(5)
    reg["lon"] = reg["lon"].astype(float).round(5)
    referrals = ref[[f.name for f in SCHEMAS["referrals"]]]
    appt = _frame(recs, "Appointment", LOAD_FIELDS["Appointment"])
    appointments = _appointments_table(appt, pat_key, key,
                                       inst_by_holder["institution_id"].to_dict())
    return {"patients": patients, "continuity": _continuity_table(ref),
            "practitioners": practitioners,
            "institutions": institutions, "referrals": referrals, "slots": slots,
            "regions": reg, "appointments": appointments}


def _appointments_table(appt: pd.DataFrame, pat_key: dict, key,
                        inst_of_holder: dict) -> pd.DataFrame:
    cols = [f.name for f in SCHEMAS["appointments"]]
    if appt.empty:
        return pd.DataFrame(columns=cols)
    start, end = _utc(appt["start"]), _utc(appt["end"])
    created = _utc(appt["created"])
    ref = []
    for based in appt["based_on"].fillna(""):
        inst, _, sid = str(based).partition("|")
        ref.append(opaque_referral_id_from_key(key, inst, sid) if inst and sid else None)
    status = appt["status"].fillna("booked").astype(str)
    out = pd.DataFrame({
        "appointment_id": ["a_" + opaque_id(key, "appointment", f"{h}\x1f{i}")
                           for h, i in zip(appt["holder"], appt["id"], strict=True)],
        # Booked when created; an export without the booking time counts from the start.
        "event_timestamp": created.fillna(start),
        "patient_id": [pat_key.get((h, s)) for h, s in zip(appt["holder"], appt["subject"],
                                                            strict=True)],
        "practitioner_id": appt["practitioner"].fillna("").astype(str),
        "institution_id": [inst_of_holder.get(h, h) for h in appt["holder"]],
        "referral_id": ref,
        "start": start,
        "minutes": ((end - start).dt.total_seconds() / 60).where(status == "fulfilled"),
        "status": status,
    })
    out = out[out["patient_id"].notna() & out["start"].notna()]
    return out[cols].sort_values(["event_timestamp", "appointment_id"]).reset_index(drop=True)


def _f(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


@lru_cache(maxsize=4096)
def _flags(code: str) -> dict[str, int]:
    return comorbidity_flags([code])


# The patients table is computed per patient; above this many Patient records it is
# computed in PATIENT_PARTITIONS hash partitions of the pseudonym, so that the working
# frames (several times the output) exist for one partition at a time.
PARTITION_MIN_PATIENTS = 20_000
PATIENT_PARTITIONS = 16


def _patients_table(pat: pd.DataFrame, cond: pd.DataFrame, ref: pd.DataFrame,
                    pat_key: dict, as_of: pd.Timestamp,
                    partitions: int | None = None) -> pd.DataFrame:
    cols = [f.name for f in SCHEMAS["patients"]]
    k = partitions or (PATIENT_PARTITIONS if len(pat) >= PARTITION_MIN_PATIENTS else 1)
    if pat.empty or k <= 1:
        return _patients_part(pat, cond, ref, pat_key, as_of)

    def bucket(pids) -> np.ndarray:
        return np.array([int(hashlib.sha256(str(x).encode()).hexdigest()[:8], 16) % k
                         if isinstance(x, str) else -1 for x in pids])

    pat_b = bucket(pat["patient_id_regional"])
    cond_b = bucket([pat_key.get((h, s)) for h, s in zip(cond["holder"], cond["subject"],
                                                          strict=True)]) \
        if not cond.empty else np.array([], dtype=int)
    ref_b = bucket(ref["patient_id"]) if not ref.empty else np.array([], dtype=int)
    parts = []
    for b in range(k):
        sel = pat_b == b
        if not sel.any():
            continue
        out = _patients_part(pat[sel], cond[cond_b == b] if len(cond_b) else cond,
                             ref[ref_b == b] if len(ref_b) else ref, pat_key, as_of)
        if len(out):
            parts.append(out)
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True).sort_values(
        ["patient_id", "event_timestamp"]).reset_index(drop=True)


def _patients_part(pat: pd.DataFrame, cond: pd.DataFrame, ref: pd.DataFrame,
                   pat_key: dict, as_of: pd.Timestamp) -> pd.DataFrame:
    cols = [f.name for f in SCHEMAS["patients"]]
    if pat.empty:
        return pd.DataFrame(columns=cols)
    # Canonical profile: records with a resident ID first, then the earliest registration.
    p = pat.assign(_norid=pat["resident_id"].isna(),
                   _reg=pat["registered"].fillna("9999-12-31"))
    p = p.sort_values(["patient_id_regional", "_norid", "_reg", "holder", "id"])
    prof = p.drop_duplicates("patient_id_regional").set_index("patient_id_regional")
    # First seen = the earliest registration of any of the patient's records.
    reg = pd.DataFrame({"pid": p["patient_id_regional"].to_numpy(),
                        "t": _local_midnight(p["registered"]).to_numpy()})
    reg = reg.groupby("pid", sort=True)["t"].min().reset_index()
    ev_parts = [reg.assign(code=None, is_ref=0)]
    if not cond.empty:
        c_pid = [pat_key.get((h, s)) for h, s in zip(cond["holder"], cond["subject"],
                                                     strict=True)]
        ev_parts.append(pd.DataFrame({"pid": c_pid, "t": _utc(cond["onset"]).to_numpy(),
                                      "code": cond["code"].to_numpy(), "is_ref": 0}))
    if not ref.empty:
        ev_parts.append(pd.DataFrame({
            "pid": ref["patient_id"].to_numpy(),
            "t": (ref["event_timestamp"] + pd.Timedelta(seconds=1)).to_numpy(),
            "code": None, "is_ref": 1}))
    ev = pd.concat(ev_parts, ignore_index=True)
    ev = ev[ev["pid"].notna()]
    ev["t"] = _utc(ev["t"])
    # A record without a registration date is first seen at the patient's earliest known
    # event; a patient with no dated event at all at the snapshot time (as_of).
    first = ev.groupby("pid")["t"].transform("min")
    ev["t"] = ev["t"].fillna(first).fillna(as_of)
    ev = ev.sort_values(["pid", "t", "is_ref", "code"], na_position="first",
                        kind="stable").reset_index(drop=True)
    code = ev["code"]
    has_code = code.notna()
    new_code = has_code & ~ev.duplicated(["pid", "code"])
    g = ev.groupby("pid", sort=False)
    ev["n_conditions"] = new_code.astype(int).groupby(ev["pid"]).cumsum()
    chronic = np.array([bool(c) and is_chronic(c) for c in code.fillna("")])
    ev["n_chronic"] = (new_code & chronic).astype(int).groupby(ev["pid"]).cumsum()
    for flag in ("has_hypertension", "has_diabetes", "has_copd", "has_chd", "has_ckd"):
        ind = np.array([_flags(c)[flag] if c else 0 for c in code.fillna("")])
        ev[flag] = pd.Series(ind, index=ev.index).groupby(ev["pid"]).cummax()
    w = np.array([DIAGNOSIS_BY_CODE[c].charlson if c in DIAGNOSIS_BY_CODE else 0
                  for c in code.fillna("")])
    grp = np.array([DIAGNOSIS_BY_CODE[c].sub_specialty if c in DIAGNOSIS_BY_CODE else ""
                    for c in code.fillna("")])
    tmp = pd.DataFrame({"pid": ev["pid"], "grp": grp, "w": w})
    cm = tmp.groupby(["pid", "grp"], sort=False)["w"].cummax()
    prev = cm.groupby([tmp["pid"], tmp["grp"]], sort=False).shift(1).fillna(0)
    ev["comorbidity_index"] = (cm - prev).groupby(ev["pid"]).cumsum().astype(int)
    ev["prior_referrals"] = g["is_ref"].cumsum()
    ev = ev.drop_duplicates(["pid", "t"], keep="last").copy()
    ev["sex"] = prof["gender"].reindex(ev["pid"]).fillna("unknown").to_numpy()
    ev["home_region"] = [region_only(x) for x in prof["district"].reindex(ev["pid"])]
    birth = pd.to_datetime(prof["birthDate"].reindex(ev["pid"]), errors="coerce")
    known = birth.notna().to_numpy()
    ages = pd.Series(-1, index=ev.index, dtype="int64")
    if known.any():
        ages[known] = ages_vectorised(pd.Series(birth.to_numpy()[known]),
                                      ev["t"][known].reset_index(drop=True)).to_numpy()
    ev["age_years"] = ages.clip(upper=AGE_CAP)
    ev["age_band"] = [band(a) if a >= 0 else "unknown" for a in ev["age_years"]]
    ev = ev.rename(columns={"pid": "patient_id", "t": "event_timestamp"})
    for c in ("n_conditions", "n_chronic", "has_hypertension", "has_diabetes", "has_copd",
              "has_chd", "has_ckd", "comorbidity_index", "prior_referrals", "age_years"):
        ev[c] = ev[c].astype("int64")
    return ev[cols].sort_values(["patient_id", "event_timestamp"]).reset_index(drop=True)


def _continuity_table(ref: pd.DataFrame) -> pd.DataFrame:
    """At each decision that accepted one of a patient's referrals: the specialists who
    have accepted the patient's referrals so far, latest first, at most MAX_SEEN,
    "|"-joined. The ranker's continuity-of-care input, which serving reads online
    (training computes the same list point in time from the referrals table)."""
    cols = [f.name for f in SCHEMAS["continuity"]]
    acc = ref[ref["status"].isin(ACCEPTED_STATUSES) & ref["target_practitioner_id"].notna()
              & ref["decision_timestamp"].notna() & ref["patient_id"].notna()]
    if acc.empty:
        return pd.DataFrame(columns=cols)
    acc = acc.sort_values(["patient_id", "decision_timestamp", "referral_id"], kind="stable")
    pids = acc["patient_id"].to_numpy()
    whos = acc["target_practitioner_id"].astype(str).to_numpy()
    lists: list[str] = []
    current: list[str] = []
    for i, (pid, who) in enumerate(zip(pids, whos, strict=True)):
        if i == 0 or pid != pids[i - 1]:
            current = []
        current = [who, *[p for p in current if p != who]][:MAX_SEEN]
        lists.append("|".join(current))
    out = pd.DataFrame({"patient_id": pids,
                        "event_timestamp": acc["decision_timestamp"].reset_index(drop=True),
                        "seen_practitioners": lists})
    # Two decisions at one instant: the row after both.
    return out.drop_duplicates(["patient_id", "event_timestamp"], keep="last")[cols] \
        .reset_index(drop=True)


def _slots_table(slot: pd.DataFrame, sched: pd.DataFrame) -> pd.DataFrame:
    cols = [f.name for f in SCHEMAS["slots"]]
    if slot.empty:
        return pd.DataFrame(columns=cols)
    s2p = dict(zip(zip(sched["holder"], sched["id"], strict=True), sched["practitioner"],
                   strict=True))
    prac = [p if isinstance(p, str) and p else s2p.get((h, s))
            for p, h, s in zip(slot["practitioner"], slot["holder"], slot["schedule"],
                               strict=True)]
    out = pd.DataFrame({"slot_id": slot["id"].astype(str), "practitioner_id": prac,
                        "start": _utc(slot["start"]), "end": _utc(slot["end"]),
                        "status": slot["status"].astype(str)})
    out = out[out["practitioner_id"].notna()].drop_duplicates("slot_id")
    return out.sort_values(["practitioner_id", "start", "slot_id"]).reset_index(drop=True)


def _practitioners_table(pr: pd.DataFrame, ref: pd.DataFrame, slots: pd.DataFrame,
                         snaps: list[pd.Timestamp]) -> pd.DataFrame:
    cols = [f.name for f in SCHEMAS["practitioners"]]
    if pr.empty:
        return pd.DataFrame(columns=cols)
    base = pd.DataFrame({
        "practitioner_id": pr["practitioner_id"],
        "institution_id": pr["institution_id"],
        "specialty": pr["specialty"].fillna("").astype(str),
        "sub_specialty": pr["sub_specialty"].fillna("").astype(str),
        "title_rank": [TITLE_RANK.get(t, 1) for t in pr["title"].fillna("")],
        "experience_years": pd.to_numeric(pr["experience_years"], errors="coerce").fillna(
            0).astype("int64"),
        "tier": pd.to_numeric(pr["tier"], errors="coerce").fillna(0).astype("int64"),
        "region": pr["region"].fillna("").astype(str),
        "lat": pd.to_numeric(pr["lat"], errors="coerce"),
        "lon": pd.to_numeric(pr["lon"], errors="coerce"),
        "n_languages": pd.to_numeric(pr["languages"], errors="coerce").fillna(0).astype(
            "int64").to_numpy(),
    }).sort_values("practitioner_id").reset_index(drop=True)
    ids = base["practitioner_id"]
    if not slots.empty:
        span = (slots["end"].max() - slots["start"].min()).total_seconds() / 86400
        weeks = max(1.0, round(span / 7.0))
        cap = slots.groupby("practitioner_id")["slot_id"].count() / weeks
        free = slots[slots["status"] == "free"]
    else:
        cap = pd.Series(dtype=float)
        free = slots
    base["weekly_capacity"] = cap.reindex(ids).fillna(0.0).astype(float).to_numpy()
    a_mean, a_k = ACCEPT_PRIOR
    o_mean, o_k = OUTCOME_PRIOR
    w_mean, w_k = WAIT_PRIOR
    is_acc = ref["status"].isin(["accepted", "completed"])
    is_done = ref["status"] == "completed"
    is_good = ref["outcome"] == "good"
    wait_days = (ref["visit"] - ref["event_timestamp"]).dt.total_seconds() / 86400
    frames = []
    for k, t in enumerate(snaps):
        recv = ref[(ref["event_timestamp"] < t)
                   & (ref["event_timestamp"] >= t - pd.Timedelta(days=365))]
        n_recv = recv.groupby("target_practitioner_id").size()
        dec = ref["decision_timestamp"] < t
        n_dec = ref[dec].groupby("target_practitioner_id").size()
        n_acc = ref[dec & is_acc].groupby("target_practitioner_id").size()
        n_comp = ref[dec & is_done].groupby("target_practitioner_id").size()
        n_good = ref[dec & is_done & is_good].groupby("target_practitioner_id").size()
        seen = ref["visit"].notna() & (ref["visit"] < t)
        w_sum = wait_days[seen].groupby(ref.loc[seen, "target_practitioner_id"]).sum()
        w_n = ref[seen].groupby("target_practitioner_id").size()

        def col(s: pd.Series) -> np.ndarray:
            return s.reindex(ids).fillna(0).to_numpy(dtype=float)

        f = base.copy()
        f["event_timestamp"] = t
        f["referrals_received_365d"] = col(n_recv).astype("int64")
        f["acceptance_rate"] = (col(n_acc) + a_mean * a_k) / (col(n_dec) + a_k)
        f["good_outcome_rate"] = (col(n_good) + o_mean * o_k) / (col(n_comp) + o_k)
        f["mean_wait_days"] = (col(w_sum) + w_mean * w_k) / (col(w_n) + w_k)
        if k == len(snaps) - 1 and not free.empty:
            nxt = free[free["start"] >= t].groupby("practitioner_id")["start"].min()
            f["next_free_slot"] = nxt.reindex(ids).to_numpy()
        else:
            f["next_free_slot"] = pd.NaT
        f["next_free_slot"] = pd.to_datetime(f["next_free_slot"], utc=True).astype(
            "datetime64[ns, UTC]")
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    for c in ("acceptance_rate", "good_outcome_rate", "mean_wait_days"):
        out[c] = out[c].round(6)
    return out[cols].sort_values(["practitioner_id", "event_timestamp"]).reset_index(
        drop=True)


# ----------------------------------------------------------------------------- write
def write_table(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    """Write atomically: temp file in the same folder, then os.replace."""
    check_table(df, path.stem)
    df = df.copy()
    if df.empty:
        df = pd.DataFrame({f.name: pd.Series(dtype=object) for f in schema})
    for fld in schema:
        if pa.types.is_timestamp(fld.type):
            df[fld.name] = pd.to_datetime(df[fld.name], utc=True).astype("datetime64[ns, UTC]")
    table = pa.Table.from_pandas(df[[f.name for f in schema]], schema=schema,
                                 preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _as_of_from_meta(settings) -> datetime | None:
    meta = read_region_meta(settings)
    if not meta.get("as_of"):
        return None
    d = date.fromisoformat(meta["as_of"])
    return datetime(d.year, d.month, d.day, tzinfo=LOCAL_TZ).astimezone(UTC)


def rebuild_offline_tables(settings) -> dict[str, int]:
    """Rebuild every offline table from every record store; returns rows per table."""
    recs = load_records(settings.records_dir)
    tables = build_tables(recs, settings.pseudonym_key, _as_of_from_meta(settings),
                          read_region_meta(settings).get("regions"))
    out: dict[str, int] = {}
    for name, df in tables.items():
        write_table(df, Path(settings.offline_dir) / f"{name}.parquet", SCHEMAS[name])
        out[name] = len(df)
    return out


def read_table(settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(Path(settings.offline_dir) / f"{name}.parquet")


__all__ = ["SCHEMAS", "opaque_referral_id", "opaque_referral_id_from_key",
           "rebuild_offline_tables", "build_tables", "load_records", "read_table",
           "write_table", "timedelta"]
