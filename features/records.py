"""The regional record model (shaped like FHIR R4) and the per-institution record store.

Records stay at their holder: one SQLite store per institution at
``settings.records_dir/<INST>/records.sqlite``. A record's bytes are its canonical JSON
(sorted keys, no whitespace, UTF-8) and its hash is the sha256 of those bytes; the ledger
indexes ``(holder, record_id, sha256)``. Record ids are ``"<ResourceType>/<id>"``, unique
within a holder. The stores keep identifiers (names, ID numbers): they are the hospital's
own data. Only ``features.deid`` output reaches the offline tables.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def record_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# ----------------------------------------------------------------------------- model
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
# Times are ISO 8601 UTC strings ending in "Z"; dates are "YYYY-MM-DD".
@dataclass
class Resource:
    resourceType: ClassVar[str] = "Resource"
    id: str
    organization: str  # holder institution code, e.g. "R1-T1"

    @property
    def record_id(self) -> str:
        return f"{self.resourceType}/{self.id}"

    def to_dict(self) -> dict:
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))
        d: dict[str, Any] = {"resourceType": self.resourceType}
        for n in names:
            v = getattr(self, n)
            d[n] = list(v) if isinstance(v, list) else v
        return d

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> Resource:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Organization(Resource):
    resourceType: ClassVar[str] = "Organization"
    name: str = ""
    tier: int = 0  # 1 community, 2 secondary, 3 tertiary
    region: str = ""  # address.district = region code
    region_name_zh: str = ""
    region_name_en: str = ""


@dataclass
class Location(Resource):
    resourceType: ClassVar[str] = "Location"
    lat: float | None = None
    lon: float | None = None


@dataclass
class Practitioner(Resource):
    resourceType: ClassVar[str] = "Practitioner"  # id = regional practitioner id
    name: str = ""
    gender: str = "unknown"
    title: str = ""  # resident | attending | associate_chief | chief
    experience_years: int | None = None
    languages: list[str] = field(default_factory=list)


@dataclass
class PractitionerRole(Resource):
    resourceType: ClassVar[str] = "PractitionerRole"
    practitioner: str = ""
    specialty: str = ""  # regional specialty list (features.codes.SPECIALTIES)
    sub_specialty: str = ""


@dataclass
class Schedule(Resource):
    resourceType: ClassVar[str] = "Schedule"
    practitioner: str = ""
    comment: str = ""


@dataclass
class Slot(Resource):
    resourceType: ClassVar[str] = "Slot"
    schedule: str = ""
    practitioner: str = ""
    start: str = ""
    end: str = ""
    status: str = "free"  # free | busy


@dataclass
class Patient(Resource):
    resourceType: ClassVar[str] = "Patient"  # id = the institution-local patient id
    mrn: str = ""
    resident_id: str | None = None  # normalised 18-digit resident ID number
    name: str = ""
    gender: str = "unknown"
    birthDate: str | None = None
    phone: str = ""
    address: str = ""
    district: str = ""  # region code
    registered: str | None = None  # date of registration at this institution
    patient_id_regional: str = ""  # pseudonym (features.identity)


@dataclass
class Condition(Resource):
    resourceType: ClassVar[str] = "Condition"
    subject: str = ""  # local patient id
    code: str = ""  # ICD-10 (WHO)
    onset: str = ""  # UTC


@dataclass
class ServiceRequest(Resource):
    resourceType: ClassVar[str] = "ServiceRequest"  # the referral; id = source id
    subject: str = ""
    requester: str = ""
    performer: str = ""  # regional practitioner id of the target
    reasonCode: str = ""  # ICD-10
    urgency: str = "routine"  # routine | urgent | emergency
    authoredOn: str = ""


@dataclass
class Task(Resource):
    resourceType: ClassVar[str] = "Task"
    focus: str = ""  # ServiceRequest id
    status: str = ""  # accepted | declined | completed
    outcome: str | None = None  # good | poor
    lastModified: str = ""
    execution_start: str | None = None


@dataclass
class Encounter(Resource):
    resourceType: ClassVar[str] = "Encounter"  # a visit (HL7 v2 PV1, OMOP visit_occurrence)
    subject: str = ""
    klass: str = ""  # inpatient | outpatient | emergency
    status: str = ""  # in-progress | finished
    start: str | None = None
    end: str | None = None
    specialty: str = ""  # regional specialty when the department maps to one


@dataclass
class Observation(Resource):
    resourceType: ClassVar[str] = "Observation"  # a result (HL7 v2 OBX, OMOP measurement)
    subject: str = ""
    code: str = ""
    system: str = ""  # e.g. http://loinc.org, or the sender's local system
    value: float | None = None  # numeric value in ``unit`` (normalised, UCUM)
    value_text: str = ""
    unit: str = ""
    effective: str | None = None


@dataclass
class Appointment(Resource):
    resourceType: ClassVar[str] = "Appointment"  # HL7 v2 SIU
    subject: str = ""
    practitioner: str = ""
    start: str = ""
    end: str | None = None  # the real end once fulfilled
    status: str = "booked"  # FHIR: booked | fulfilled | noshow | cancelled ...
    created: str | None = None  # when it was booked
    based_on: str = ""  # "<institution>|<referral id there>" of the referral it serves


@dataclass
class ImagingStudy(Resource):
    resourceType: ClassVar[str] = "ImagingStudy"  # DICOM metadata; pixels stay at source
    subject: str = ""
    uid: str = ""  # StudyInstanceUID
    started: str | None = None
    modalities: list[str] = field(default_factory=list)
    description: str = ""
    n_series: int = 0
    n_instances: int = 0
    series: list[dict] = field(default_factory=list)  # {uid, modality, number, n, desc}
    endpoint: str = ""  # where the pixel data stays (the source file/folder)


@dataclass
class Procedure(Resource):
    resourceType: ClassVar[str] = "Procedure"
    subject: str = ""
    code: str = ""
    system: str = ""  # e.g. SNOMED CT, ICD-9-CM-3, or the sender's local system
    status: str = ""
    performed: str | None = None


@dataclass
class MedicationRequest(Resource):
    resourceType: ClassVar[str] = "MedicationRequest"
    subject: str = ""
    medication_code: str = ""
    medication_system: str = ""  # e.g. RxNorm, ATC, a national drug code
    medication_text: str = ""
    status: str = ""
    intent: str = ""
    authored: str | None = None
    dosage_text: str = ""


@dataclass
class DiagnosticReport(Resource):
    resourceType: ClassVar[str] = "DiagnosticReport"
    subject: str = ""
    code: str = ""
    system: str = ""
    status: str = ""
    issued: str | None = None
    conclusion: str = ""  # free text: stays in the holder's store, never offline
    results: list[str] = field(default_factory=list)  # Observation ids


RESOURCE_TYPES: dict[str, type[Resource]] = {
    c.resourceType: c for c in (Organization, Location, Practitioner, PractitionerRole,
                                Schedule, Slot, Patient, Condition, ServiceRequest, Task,
                                Encounter, Observation, Appointment, ImagingStudy,
                                Procedure, MedicationRequest, DiagnosticReport)}


def parse_record(body: bytes) -> Resource:
    d = json.loads(body)
    return RESOURCE_TYPES[d["resourceType"]].from_dict(d)


# ----------------------------------------------------------------------------- store
class RecordStore:
    """One institution's records: SQLite, canonical JSON bytes, sha256 per record."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS records (
                record_id TEXT PRIMARY KEY, resource_type TEXT NOT NULL,
                body BLOB NOT NULL, sha256 TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS records_type ON records(resource_type, record_id);
            CREATE TABLE IF NOT EXISTS patient_index (
                id TEXT PRIMARY KEY, name TEXT, gender TEXT, birth_date TEXT,
                patient_id_regional TEXT);
        """)
        self._in_batch = False

    @classmethod
    def for_institution(cls, records_dir: Path, institution: str) -> RecordStore:
        return cls(Path(records_dir) / institution / "records.sqlite")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[RecordStore]:
        """Group many upserts in one transaction."""
        self._in_batch = True
        try:
            with self._db:
                yield self
        finally:
            self._in_batch = False

    def upsert(self, record_id: str, resource_type: str, canonical_json_bytes: bytes) -> bool:
        """Insert or replace; returns True when the stored bytes changed."""
        body = bytes(canonical_json_bytes)
        digest = record_hash(body)
        row = self._db.execute("SELECT sha256 FROM records WHERE record_id=?",
                               (record_id,)).fetchone()
        if row is not None and row[0] == digest:
            return False
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?,?,?,?)",
                         (record_id, resource_type, body, digest))
        if resource_type == "Patient":
            d = json.loads(body)
            self._db.execute("INSERT OR REPLACE INTO patient_index VALUES (?,?,?,?,?)",
                             (d["id"], d.get("name"), d.get("gender"), d.get("birthDate"),
                              d.get("patient_id_regional")))
        if not self._in_batch:
            self._db.commit()
        return True

    def upsert_resource(self, res: Resource) -> bool:
        return self.upsert(res.record_id, res.resourceType, res.to_bytes())

    def upsert_many(self, resources: Iterable[Resource]) -> int:
        """Upsert many records in one transaction (rows whose hash is unchanged are not
        rewritten). Returns the number of records given."""
        rows = []
        patients = []
        for r in resources:
            body = r.to_bytes()
            rows.append((r.record_id, r.resourceType, body, record_hash(body)))
            if isinstance(r, Patient):
                patients.append((r.id, r.name, r.gender, r.birthDate,
                                 r.patient_id_regional))
        with self._db:
            self._db.executemany(
                "INSERT INTO records VALUES (?,?,?,?) ON CONFLICT(record_id) DO UPDATE SET "
                "resource_type=excluded.resource_type, body=excluded.body, "
                "sha256=excluded.sha256 WHERE records.sha256 != excluded.sha256", rows)
            if patients:
                self._db.executemany(
                    "INSERT OR REPLACE INTO patient_index VALUES (?,?,?,?,?)", patients)
        return len(rows)

    def get(self, record_id: str) -> bytes | None:
        row = self._db.execute("SELECT body FROM records WHERE record_id=?",
                               (record_id,)).fetchone()
        return bytes(row[0]) if row else None

    def get_hash(self, record_id: str) -> str | None:
        row = self._db.execute("SELECT sha256 FROM records WHERE record_id=?",
                               (record_id,)).fetchone()
        return row[0] if row else None

    def iter_records(self, resource_type: str | None = None
                     ) -> Iterator[tuple[str, str, bytes]]:
        """(record_id, resource_type, bytes) ordered by record id (streamed)."""
        if resource_type is None:
            cur = self._db.execute(
                "SELECT record_id, resource_type, body FROM records ORDER BY record_id")
        else:
            cur = self._db.execute(
                "SELECT record_id, resource_type, body FROM records WHERE resource_type=? "
                "ORDER BY record_id", (resource_type,))
        for rid, rtype, body in cur:
            yield rid, rtype, bytes(body)

    def count(self, resource_type: str | None = None) -> int:
        if resource_type is None:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM records WHERE resource_type=?",
                                    (resource_type,)).fetchone()[0])

    def counts_by_type(self) -> dict[str, int]:
        return {t: int(n) for t, n in self._db.execute(
            "SELECT resource_type, COUNT(*) FROM records GROUP BY resource_type "
            "ORDER BY resource_type")}

    def patients(self, offset: int = 0, limit: int = 50) -> list[dict]:
        """The institution's patient index for the API, ordered by local id:
        ``{id, name, gender, birth_date, patient_id_regional}``."""
        cur = self._db.execute(
            "SELECT id, name, gender, birth_date, patient_id_regional FROM patient_index "
            "ORDER BY id LIMIT ? OFFSET ?", (int(limit), int(offset)))
        return [{"id": r[0], "name": r[1], "gender": r[2], "birth_date": r[3],
                     "patient_id_regional": r[4]} for r in cur]

    def find_patient(self, local_id: str) -> dict | None:
        """One entry of the patient index by the institution's own patient id."""
        r = self._db.execute(
            "SELECT id, name, gender, birth_date, patient_id_regional FROM patient_index "
            "WHERE id=?", (local_id,)).fetchone()
        return None if r is None else {"id": r[0], "name": r[1], "gender": r[2], "birth_date": r[3],
                                           "patient_id_regional": r[4]}

    def local_ids(self, patient_id_regional: str) -> list[str]:
        """This institution's own ids of one regional patient (usually one)."""
        return [r[0] for r in self._db.execute(
            "SELECT id FROM patient_index WHERE patient_id_regional=? ORDER BY id",
            (patient_id_regional,))]

    def patient_records(self, local_ids: list[str]) -> list[tuple[str, str, bytes]]:
        """(record_id, resource_type, bytes) of these local patients: their Patient records,
        the records whose ``subject`` is one of them, and the Tasks of their ServiceRequests."""
        if not local_ids:
            return []
        marks = ",".join("?" * len(local_ids))
        rows = [(rid, t, bytes(b)) for rid, t, b in self._db.execute(
            f"SELECT record_id, resource_type, body FROM records WHERE record_id IN ({marks})"
            f" OR json_extract(CAST(body AS TEXT), '$.subject') IN ({marks})",
            [f"Patient/{i}" for i in local_ids] + list(local_ids))]
        requests = [json.loads(b)["id"] for _rid, t, b in rows if t == "ServiceRequest"]
        for start in range(0, len(requests), 500):
            chunk = requests[start:start + 500]
            focus = ",".join("?" * len(chunk))
            rows += [(rid, t, bytes(b)) for rid, t, b in self._db.execute(
                "SELECT record_id, resource_type, body FROM records WHERE resource_type='Task'"
                f" AND json_extract(CAST(body AS TEXT), '$.focus') IN ({focus})", chunk)]
        return sorted(rows)

    def patient_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM patient_index").fetchone()[0])


def list_stores(records_dir: Path) -> list[tuple[str, Path]]:
    """(institution, path) of every record store under records_dir, sorted."""
    d = Path(records_dir)
    if not d.is_dir():
        return []
    return sorted((p.parent.name, p) for p in d.glob("*/records.sqlite"))
