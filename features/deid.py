"""De-identification before anything reaches the offline tables (feature store).

Kept: the keyed pseudonym, sex, age in whole years capped at 90 and a 10-year band
("90+" above 89, as in the HIPAA Safe Harbor rule), the region code (address generalised
to the region, the level of a Chinese district), ICD-10 codes and event times.
Dropped: names, resident ID numbers, MRNs, phones, street addresses, exact birth dates.
Source ids (e.g. a referral's number at the hospital) become keyed opaque ids.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

from features.codes import age_band
from features.identity import keyed_hash

AGE_CAP = 90
# Column names that must never appear in an offline table.
FORBIDDEN_COLUMNS = {"name", "resident_id", "mrn", "phone", "address", "birth_date",
                     "birthDate", "local_id", "source_id", "source_referral_key", "subject"}


def age_years(birth: date, at: date) -> int:
    years = at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))
    return max(0, min(AGE_CAP, years))


def ages_vectorised(birth: pd.Series, at: pd.Series) -> pd.Series:
    """Whole years between two datetime64 series, clipped to [0, 90]."""
    b = pd.to_datetime(birth)
    a = pd.to_datetime(at)
    if getattr(a.dt, "tz", None) is not None:
        a = a.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    years = a.dt.year - b.dt.year - (
        (a.dt.month < b.dt.month) | ((a.dt.month == b.dt.month) & (a.dt.day < b.dt.day))
    ).astype(int)
    return years.clip(lower=0, upper=AGE_CAP).astype("int64")


def band(age: int) -> str:
    return age_band(min(int(age), AGE_CAP))


def region_only(district: str | None) -> str:
    """Addresses are generalised to the region code; anything finer is dropped."""
    return (district or "").strip() or "unknown"


def opaque_id(key, namespace: str, value: str, length: int = 20) -> str:
    return keyed_hash(key, f"{namespace}\x1f{value}")[:length]


def check_table(df: pd.DataFrame, table: str) -> None:
    """Refuse to write a table that carries a direct-identifier column."""
    bad = FORBIDDEN_COLUMNS & set(df.columns)
    if bad:
        raise ValueError(f"{table}: direct identifier columns {sorted(bad)}")


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_LONG_NUMBER = re.compile(r"\d[\d\s\-]{4,}\d")


def scrub_text(text: str) -> str:
    """Free text that leaves the identified zone (quarantine reasons, logs): quoted
    values and long digit runs (ID, phone, MRN, insurance numbers) are replaced."""
    return _LONG_NUMBER.sub("<number>", _QUOTED.sub("<value>", text))


def sentinel_hits(offline_dir, sentinels: list[str]) -> int:
    """How many of the planted identifier strings occur anywhere in the offline tables
    (plant-and-scan; must be 0). Values are decoded from parquet, so compression does
    not hide a leak."""
    from pathlib import Path

    values: set[str] = set()
    for path in sorted(Path(offline_dir).glob("*.parquet")):
        df = pd.read_parquet(path)
        for c in df.columns:
            values |= {str(v) for v in df[c].dropna().unique()}
        values |= set(df.columns)
    blob = "\n".join(sorted(values))
    return sum(1 for s in sentinels if s and s in blob)
