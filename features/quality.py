"""Data-quality report of one ingest: completeness by field, code-mapping coverage,
rejects by reason. Saved as JSON under ``settings.home / "quality"`` for supervisors.

Counts and shares only: no value of any record is written, so the report is safe to
show outside the identified zone (quarantine reasons are grouped with their quoted
values and long numbers masked, ``features.deid.scrub_text``).

``quality/ingest-<digest>.json`` (the digest of the sources, as for the quarantine file)
and ``quality/latest.json``::

    {"sources": [{institution, format, path}], "accepted", "rejected",
     "completeness": {"Patient": {"records": n, "fields": {"birthDate": 0.99, ...}}, ...},
     "code_mapping": {"diagnosis_icd10": {"mapped", "unmapped", "coverage"},
                      "department_specialty": {...}, "observation_unit_ucum": {...}},
     "rejects_by_reason": {"<reason pattern>": n, ...},
     "rejects_by_institution": {"R1-S1": n}}
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import fields
from pathlib import Path

from features.deid import scrub_text
from features.records import Resource

_UCUM = {"mmol/L", "umol/L", "mg/dL", "g/L", "g/dL", "mm[Hg]", "%", "10*9/L", "10*12/L",
         "U/L", "[IU]/L", "kg", "cm", "/min", "Cel", "mL", "L", "mg", "g", "ng/mL",
         "pg/mL", "mIU/L", "fL", "pmol/L", "nmol/L", "s", "ratio", "1"}
_SKIP = {"id", "organization"}


def reason_pattern(reason: str) -> str:
    """A reject reason without its specifics: values, numbers, record ids."""
    r = scrub_text(reason)
    r = re.sub(r"^[A-Z][A-Za-z]+/[^:]+:", lambda m: m.group(0).split("/")[0] + ":", r)
    r = re.sub(r"\b(byte|line|col|entry)\s*\[?\d+\]?", r"\1 <n>", r)
    return r[:200]


class QualityTracker:
    def __init__(self) -> None:
        self.records: Counter[str] = Counter()
        self.filled: dict[str, Counter[str]] = {}
        self.fields: dict[str, tuple[str, ...]] = {}
        self.reasons: Counter[str] = Counter()
        self.by_inst: Counter[str] = Counter()
        self.mapping = {k: Counter() for k in ("diagnosis_icd10", "department_specialty",
                                               "observation_unit_ucum")}

    def add(self, res: Resource) -> None:
        rt = res.resourceType
        names = self.fields.get(rt)
        if names is None:
            names = self.fields[rt] = tuple(f.name for f in fields(res) if f.name not in _SKIP)
            self.filled[rt] = Counter()
        self.records[rt] += 1
        filled = self.filled[rt]
        for n in names:
            v = getattr(res, n)
            if v is not None and v != "" and v != []:
                filled[n] += 1
        if rt in ("Condition", "ServiceRequest"):
            code = getattr(res, "code", None) or getattr(res, "reasonCode", None)
            if code:
                self.mapping["diagnosis_icd10"]["mapped"] += 1
        elif rt == "PractitionerRole":
            self.mapping["department_specialty"]["mapped"] += 1
        elif rt == "Encounter":
            self.mapping["department_specialty"][
                "mapped" if res.specialty else "unmapped"] += 1  # type: ignore[attr-defined]
        elif rt == "Observation":
            unit = res.unit  # type: ignore[attr-defined]
            if unit:
                self.mapping["observation_unit_ucum"][
                    "mapped" if unit in _UCUM else "unmapped"] += 1

    def reject(self, reason: str, institution: str) -> None:
        self.reasons[reason_pattern(reason)] += 1
        self.by_inst[institution] += 1
        low = reason.lower()
        if "icd-10" in low or "diagnosis" in low:
            self.mapping["diagnosis_icd10"]["unmapped"] += 1
        elif "department" in low or "specialty" in low:
            self.mapping["department_specialty"]["unmapped"] += 1

    def to_json(self, sources: list[dict]) -> dict:
        comp = {}
        for rt in sorted(self.records):
            n = self.records[rt]
            comp[rt] = {"records": n, "fields": {
                f: round(self.filled[rt][f] / n, 4) for f in self.fields[rt]}}
        mapping = {}
        for k, c in self.mapping.items():
            tot = c["mapped"] + c["unmapped"]
            mapping[k] = {"mapped": c["mapped"], "unmapped": c["unmapped"],
                          "coverage": round(c["mapped"] / tot, 4) if tot else None}
        return {"sources": sources, "accepted": sum(self.records.values()),
                "rejected": sum(self.reasons.values()), "completeness": comp,
                "code_mapping": mapping,
                "rejects_by_reason": dict(self.reasons.most_common()),
                "rejects_by_institution": dict(sorted(self.by_inst.items()))}


def write_report(settings, digest: str, report: dict) -> Path:
    d = Path(settings.home) / "quality"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"ingest-{digest}.json"
    body = json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True)
    for p in (path, d / "latest.json"):
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, p)
    return path


def read_report(settings, digest: str | None = None) -> dict:
    d = Path(settings.home) / "quality"
    path = d / (f"ingest-{digest}.json" if digest else "latest.json")
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = ["QualityTracker", "write_report", "read_report", "reason_pattern"]
