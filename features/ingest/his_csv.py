"""HIS-style CSV adapter, driven by the integration team's per-institution mapping.json.

mapping.json::

    {"institution": "R1-C3", "encoding": "gb18030", "date_format": "%Y年%m月%d日",
     "datetime_format": "%Y年%m月%d日 %H时%M分", "timezone": "Asia/Shanghai",
     "files": {"patients": {"file": "patients.csv",
                            "columns": {"病人ID": "local_id", "姓名": "name", ...}}, ...},
     "code_maps": {"diagnosis": {"ZD0001": "B18.1", ...}, "department": {"NK02": ...},
                   "gender": {"男": "male"}, "urgency": {...}, "status": {...},
                   "outcome": {...}, "tier": {...}, "title": {...}, "slot_status": {...}}}

Regional fields per file kind are listed in ``FIELDS``. Files are read in chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from features.identity import PatientLinker, normalise_resident_id
from features.ingest.common import BadRecord, Reject, icd10, specialty, to_utc
from features.records import (
    Appointment,
    Condition,
    Location,
    Organization,
    Patient,
    Practitioner,
    PractitionerRole,
    Resource,
    Schedule,
    ServiceRequest,
    Slot,
    Task,
)
from regioncare.errors import UserError

KINDS = ["institution", "staff", "schedule", "patients", "diagnoses", "referrals",
         "appointments"]
FIELDS: dict[str, list[str]] = {
    "institution": ["code", "name", "tier", "region"],
    "staff": ["practitioner_id", "department"],
    "schedule": ["slot_id", "practitioner_id", "start", "end", "status"],
    "patients": ["local_id", "name", "gender", "birth_date"],
    "diagnoses": ["condition_id", "local_patient_id", "code", "onset"],
    "referrals": ["source_id", "local_patient_id", "diagnosis", "urgency", "authored",
                  "target", "status"],
    "appointments": ["appointment_id", "local_patient_id", "practitioner_id", "start",
                     "status"],
}
CHUNK_ROWS = 5000


class Mapping:
    def __init__(self, path: Path) -> None:
        try:
            self.raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as e:
            raise UserError(f"cannot read mapping {path}: {e}") from e
        self.path = path
        self.encoding = self.raw.get("encoding", "utf-8")
        self.date_format = self.raw.get("date_format", "%Y-%m-%d")
        self.datetime_format = self.raw.get("datetime_format", "%Y-%m-%d %H:%M:%S")
        self.tz = ZoneInfo(self.raw.get("timezone", "Asia/Shanghai"))
        self.files: dict = self.raw.get("files", {})
        self.codes: dict[str, dict[str, str]] = self.raw.get("code_maps", {})

    def kind_of(self, csv_path: Path) -> str | None:
        for kind, spec in self.files.items():
            if spec.get("file") == csv_path.name:
                return kind
        return csv_path.stem if csv_path.stem in KINDS else None

    def code(self, table: str, value: str, what: str, *, identity: bool = False) -> str:
        m = self.codes.get(table, {})
        if value in m:
            return m[value]
        if identity and value in m.values():
            return value
        raise BadRecord(f"{what} {value!r} has no entry in the {table} code map")

    def date(self, value: str, what: str, required: bool = True) -> str | None:
        if not value:
            if required:
                raise BadRecord(f"missing {what}")
            return None
        try:
            return datetime.strptime(value.strip(), self.date_format).date().isoformat()
        except ValueError as e:
            raise BadRecord(f"bad {what} (expected {self.date_format})") from e

    def dt(self, value: str, what: str, required: bool = True) -> str | None:
        if not value:
            if required:
                raise BadRecord(f"missing {what}")
            return None
        v = value.strip()
        for fmt in (self.datetime_format, self.date_format):
            try:
                return to_utc(datetime.strptime(v, fmt), self.tz)
            except ValueError:
                continue
        raise BadRecord(f"bad {what} (expected {self.datetime_format})")

    def local_midnight_utc(self, d: str) -> str:
        return to_utc(datetime.fromisoformat(d), self.tz)


def _row_to_resources(kind: str, r: dict, m: Mapping, inst: str,
                      linker: PatientLinker) -> list[Resource]:
    def g(k: str, default: str = "") -> str:
        v = r.get(k)
        return default if v is None or v == "" else str(v)

    if kind == "institution":
        code = g("code") or inst
        out: list[Resource] = [Organization(
            id=code, organization=inst, name=g("name", ""),
            tier=int(m.code("tier", g("tier", ""), "tier", identity=True)),
            region=g("region", ""), region_name_zh=g("region_name_zh", ""),
            region_name_en=g("region_name_en", ""))]
        if g("lat") and g("lon"):
            try:
                lat, lon = float(g("lat")), float(g("lon"))
            except ValueError as e:
                raise BadRecord(f"bad lat/lon {g('lat')!r}/{g('lon')!r}") from e
            out.append(Location(id=f"{code.replace('-', '')}-main", organization=inst,
                                lat=lat, lon=lon))
        return out
    if kind == "staff":
        pid = g("practitioner_id")
        spec = specialty(m.code("department", g("department", ""), "department"))
        title = m.code("title", g("title", ""), "title", identity=True) if g("title") else ""
        years = g("experience_years")
        try:
            exp = int(years) if years else None
        except ValueError as e:
            raise BadRecord(f"bad experience years {years!r}") from e
        langs = [x for x in (g("languages") or "").replace(",", "|").split("|") if x]
        sex = m.code("gender", g("gender"), "gender", identity=True) if g("gender") else \
            "unknown"
        return [Practitioner(id=pid, organization=inst, name=g("name", ""), gender=sex,
                             title=title, experience_years=exp, languages=langs),
                PractitionerRole(id=f"{pid}-role", organization=inst, practitioner=pid,
                                 specialty=spec, sub_specialty=g("sub_specialty", ""))]
    if kind == "schedule":
        pid = g("practitioner_id")
        status = m.code("slot_status", g("status", ""), "slot status", identity=True)
        if status not in ("free", "busy"):
            raise BadRecord(f"slot status {status!r}")
        sched = f"SC-{pid[3:]}" if pid.startswith("PR-") else f"SC-{pid}"
        return [Schedule(id=sched, organization=inst, practitioner=pid),
                Slot(id=g("slot_id"), organization=inst, schedule=sched, practitioner=pid,
                     start=m.dt(g("start", ""), "slot start") or "",
                     end=m.dt(g("end", ""), "slot end") or "", status=status)]
    if kind == "patients":
        sex = m.code("gender", g("gender", ""), "gender", identity=True)
        birth = m.date(g("birth_date", ""), "birth date")
        resident = normalise_resident_id(g("resident_id"))
        name = g("name", "")
        return [Patient(id=g("local_id"), organization=inst, mrn=g("local_id"),
                        resident_id=resident, name=name, gender=sex, birthDate=birth,
                        phone=g("phone", ""), address=g("address", ""),
                        district=g("region", ""),
                        registered=m.date(g("registered", ""), "registration date",
                                          required=False),
                        patient_id_regional=linker.link(resident_id=resident, name=name,
                                                        birth_date=birth, gender=sex))]
    if kind == "diagnoses":
        code = icd10(m.code("diagnosis", g("code", ""), "diagnosis code", identity=True))
        onset = m.date(g("onset", ""), "diagnosis date")
        return [Condition(id=g("condition_id"), organization=inst,
                          subject=g("local_patient_id"), code=code,
                          onset=m.local_midnight_utc(onset or ""))]
    if kind == "referrals":
        sid = g("source_id")
        dx = icd10(m.code("diagnosis", g("diagnosis", ""), "diagnosis code", identity=True))
        urgency = m.code("urgency", g("urgency", ""), "urgency", identity=True)
        if urgency not in ("routine", "urgent", "emergency"):
            raise BadRecord(f"urgency {urgency!r}")
        status = m.code("status", g("status", ""), "status", identity=True)
        if status not in ("accepted", "declined", "completed"):
            raise BadRecord(f"status {status!r}")
        outcome = m.code("outcome", g("outcome"), "outcome", identity=True) if g(
            "outcome") else None
        authored = m.dt(g("authored", ""), "authored time") or ""
        return [ServiceRequest(id=sid, organization=inst, subject=g("local_patient_id"),
                               requester=g("requester", ""), performer=g("target"),
                               reasonCode=dx, urgency=urgency, authoredOn=authored),
                Task(id="TK-" + (sid[3:] if sid.startswith("SR-") else sid),
                     organization=inst, focus=sid, status=status,
                     outcome=outcome if status == "completed" else None,
                     lastModified=m.dt(g("decision", ""), "decision time",
                                       required=False) or authored,
                     execution_start=m.dt(g("visit", ""), "visit time", required=False))]
    if kind == "appointments":
        status = m.code("appointment_status", g("status", ""), "appointment status",
                        identity=True)
        if status not in ("booked", "fulfilled", "noshow", "cancelled"):
            raise BadRecord(f"appointment status {status!r}")
        org, no = g("referral_org"), g("referral_no")
        return [Appointment(id=g("appointment_id"), organization=inst,
                            subject=g("local_patient_id"), practitioner=g("practitioner_id"),
                            start=m.dt(g("start", ""), "appointment start") or "",
                            end=m.dt(g("end", ""), "appointment end", required=False),
                            status=status,
                            created=m.dt(g("created", ""), "booking time", required=False),
                            based_on=f"{org}|{no}" if org and no else "")]
    raise BadRecord(f"unknown file kind {kind}")


def read_csv_file(path: Path, kind: str, m: Mapping, inst: str, linker: PatientLinker
                  ) -> Iterator[Resource | Reject]:
    src = str(path)
    spec = m.files.get(kind, {})
    colmap: dict[str, str] = spec.get("columns", {})
    try:
        if path.stat().st_size == 0:
            yield Reject(src, "file", "empty file")
            return
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=m.encoding,
                             chunksize=CHUNK_ROWS, skipinitialspace=True)
        row_no = 1  # header is line 1
        first = True
        seen_schedules: set[str] = set()
        for chunk in reader:
            names = {c: str(c).strip().lstrip("\ufeff") for c in chunk.columns}
            chunk = chunk.rename(columns={c: colmap.get(n, n) for c, n in names.items()})
            if first:
                missing = [f for f in FIELDS[kind] if f not in chunk.columns]
                if missing:
                    yield Reject(src, "header", f"missing columns for {', '.join(missing)}")
                    return
                first = False
            for rec in chunk.to_dict("records"):
                row_no += 1
                rec = {k: (v.strip() if isinstance(v, str) else v) for k, v in rec.items()}
                try:
                    for f in FIELDS[kind]:
                        if not rec.get(f):
                            raise BadRecord(f"missing {f}")
                    for res in _row_to_resources(kind, rec, m, inst, linker):
                        if isinstance(res, Schedule):
                            if res.id in seen_schedules:
                                continue
                            seen_schedules.add(res.id)
                        yield res
                except BadRecord as e:
                    yield Reject(src, f"line {row_no}", str(e))
    except pd.errors.EmptyDataError:
        yield Reject(src, "file", "empty file")
    except UnicodeDecodeError as e:
        yield Reject(src, "file", f"cannot decode as {m.encoding}: {e.reason}")
    except (pd.errors.ParserError, ValueError, LookupError) as e:
        yield Reject(src, "file", f"unreadable CSV: {str(e).splitlines()[0]}")


def read_csv_folder(folder: Path, inst: str, linker: PatientLinker,
                    only: Path | None = None) -> Iterator[Resource | Reject]:
    mapping_path = folder / "mapping.json"
    if not mapping_path.exists():
        yield Reject(str(folder), "mapping.json", "no mapping.json: the CSV columns cannot "
                                                  "be mapped")
        return
    try:
        m = Mapping(mapping_path)
    except UserError as e:
        yield Reject(str(mapping_path), "file", str(e))
        return
    for kind in KINDS:
        spec = m.files.get(kind)
        if not spec:
            continue
        path = folder / spec.get("file", f"{kind}.csv")
        if only is not None and path.resolve() != only.resolve():
            continue
        if not path.exists():
            if only is None:
                continue
        yield from read_csv_file(path, kind, m, inst, linker)
