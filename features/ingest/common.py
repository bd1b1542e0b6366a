"""Shared pieces of the source adapters: rejects, time and code normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timezone
from zoneinfo import ZoneInfo

from features.codes import SPECIALTIES, normalise_icd10

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # exports without an offset are China Standard Time


@dataclass(frozen=True)
class Reject:
    source: str
    position: str
    reason: str

    def to_json(self) -> dict:
        return {"source": self.source, "position": self.position, "reason": self.reason}


class BadRecord(ValueError):
    """A record that cannot be normalised; the message is the quarantine reason."""


def to_utc(dt: datetime, tz: ZoneInfo | timezone = LOCAL_TZ) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_fhir_datetime(value: str | None, what: str, *, required: bool = True) -> str | None:
    """FHIR date/dateTime/instant -> UTC 'YYYY-MM-DDTHH:MM:SSZ' (dates at local midnight)."""
    if not value:
        if required:
            raise BadRecord(f"missing {what}")
        return None
    v = str(value).strip()
    try:
        if len(v) == 10:
            d = date.fromisoformat(v)
            return to_utc(datetime(d.year, d.month, d.day))
        return to_utc(datetime.fromisoformat(v.replace("Z", "+00:00")))
    except ValueError as e:
        raise BadRecord(f"bad {what} (not an ISO 8601 date/time)") from e


def parse_fhir_date(value: str | None, what: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as e:
        raise BadRecord(f"bad {what} (not an ISO 8601 date)") from e


def icd10(code: str | None, what: str = "diagnosis code") -> str:
    c = normalise_icd10(code)
    if c is None:
        raise BadRecord(f"{what} {code!r} is not ICD-10")
    return c


def specialty(code: str | None) -> str:
    if not code or code not in SPECIALTIES:
        raise BadRecord(f"specialty {code!r} is not on the regional list")
    return code


GENDERS = {"male": "male", "female": "female", "other": "unknown", "unknown": "unknown"}


def gender(value: str | None) -> str:
    return GENDERS.get((value or "unknown").strip().lower(), "unknown")


# Units: UCUM spellings, and the conversions that labs in the region disagree on
# (glucose and cholesterol in mg/dL vs mmol/L, creatinine in mg/dL vs umol/L).
_UNIT_SPELLING = {"mmol/l": "mmol/L", "umol/l": "umol/L", "µmol/l": "umol/L",
                  "μmol/l": "umol/L", "mg/dl": "mg/dL", "g/l": "g/L", "g/dl": "g/dL",
                  "mmhg": "mm[Hg]", "mm[hg]": "mm[Hg]", "%": "%", "10^9/l": "10*9/L",
                  "10*9/l": "10*9/L", "x10e9/l": "10*9/L", "10^12/l": "10*12/L",
                  "10*12/l": "10*12/L", "u/l": "U/L", "iu/l": "[IU]/L", "kg": "kg",
                  "cm": "cm", "bpm": "/min", "/min": "/min", "cel": "Cel", "℃": "Cel",
                  "°c": "Cel"}
# LOINC code -> (from unit, to unit, factor)
_CONVERT = {"2345-7": ("mg/dL", "mmol/L", 1 / 18.016),  # glucose (serum/plasma)
            "2339-0": ("mg/dL", "mmol/L", 1 / 18.016),  # glucose (blood)
            "2093-3": ("mg/dL", "mmol/L", 1 / 38.67),  # total cholesterol
            "2160-0": ("mg/dL", "umol/L", 88.42),  # creatinine
            "718-7": ("g/dL", "g/L", 10.0)}  # haemoglobin


def normalise_unit(code: str, value: float | None, unit: str) -> tuple[float | None, str]:
    """(value, UCUM unit) with the region's preferred unit for the common lab codes."""
    u = _UNIT_SPELLING.get((unit or "").strip().lower(), (unit or "").strip())
    conv = _CONVERT.get(code)
    if conv is not None and value is not None and u == conv[0]:
        return round(value * conv[2], 4), conv[1]
    return value, u
