"""OMOP CDM v5.4 adapter: a folder of table CSVs (``person.csv``, ``visit_occurrence.csv``,
``condition_occurrence.csv``, ``measurement.csv``; upper-case names and tab-separated
files as exported by ATLAS/Achilles tooling also work) -> the regional record model.

- person -> Patient (id = person_id, mrn = person_source_value, birth date from
  birth_datetime or year/month/day_of_birth, sex from gender_concept_id 8507/8532 or
  gender_source_value); needs person_id and a birth year.
- visit_occurrence -> Encounter (visit_concept_id 9201/262 inpatient, 9202 outpatient,
  9203 emergency); needs visit_occurrence_id, person_id, visit_start_date.
- condition_occurrence -> Condition, ICD-10 from condition_source_value, else from
  condition_concept_id through ``CONCEPT_ICD10`` (standard SNOMED concepts of the common
  chronic diseases); needs condition_occurrence_id, person_id, condition_start_date and
  a code that maps.
- measurement -> Observation (LOINC from measurement_source_value, units normalised);
  needs measurement_id, person_id, measurement_date.

OMOP extracts carry no names or ID numbers, so these patients link through the MPI on
birth date, sex and what else is there, or stay apart. Files are read in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from features.identity import PatientLinker
from features.ingest.common import (
    BadRecord,
    Reject,
    icd10,
    normalise_unit,
    parse_fhir_datetime,
)
from features.records import Condition, Encounter, Observation, Patient, Resource

TABLES = ["person", "visit_occurrence", "condition_occurrence", "measurement"]
REQUIRED = {"person": ["person_id"],
            "visit_occurrence": ["visit_occurrence_id", "person_id"],
            "condition_occurrence": ["condition_occurrence_id", "person_id"],
            "measurement": ["measurement_id", "person_id"]}
GENDER = {"8507": "male", "8532": "female", "8551": "unknown", "8570": "unknown",
          "0": "unknown"}
GENDER_SOURCE = {"m": "male", "male": "male", "男": "male", "f": "female",
                 "female": "female", "女": "female"}
VISIT = {"9201": "inpatient", "262": "inpatient", "9202": "outpatient",
         "9203": "emergency", "581477": "outpatient", "38004515": "outpatient"}
# Standard (SNOMED) condition concepts of the common chronic diseases -> ICD-10.
CONCEPT_ICD10 = {"320128": "I10", "201826": "E11.9", "201254": "E10.9", "255573": "J44.9",
                 "317009": "J45.9", "46271022": "N18.9", "443614": "N18.3",
                 "4329847": "I21.9", "316139": "I50.9", "313217": "I48.9",
                 "372924": "I63.9", "317576": "I25.1", "432867": "E78.5",
                 "80180": "M17.9", "80502": "M81.9", "440383": "F32.9", "201612": "B18.1",
                 "140673": "E03.9", "255848": "J18.9"}
CHUNK_ROWS = 20_000


def table_files(folder: Path) -> dict[str, Path]:
    """The OMOP tables present in a folder (case-insensitive, .csv or .tsv)."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        stem = p.stem.lower()
        if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt") and stem in TABLES:
            found[stem] = p
    return found


def is_omop_folder(folder: Path) -> bool:
    return folder.is_dir() and "person" in table_files(folder)


def _date(v: str, what: str, *, required: bool = True) -> str | None:
    v = (v or "").strip()
    if not v:
        if required:
            raise BadRecord(f"missing {what}")
        return None
    if len(v) == 8 and v.isdigit():  # 20240131
        v = f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return parse_fhir_datetime(v.replace(" ", "T"), what, required=required)


def _row(table: str, r: dict, inst: str, linker: PatientLinker) -> Resource:
    def g(k: str) -> str:
        v = r.get(k)
        return "" if v is None else str(v).strip()

    if table == "person":
        birth = None
        if g("birth_datetime"):
            try:
                birth = datetime.fromisoformat(g("birth_datetime").replace(" ", "T")[:19]
                                               ).date().isoformat()
            except ValueError as e:
                raise BadRecord("bad birth_datetime") from e
        elif g("year_of_birth"):
            try:
                birth = date(int(float(g("year_of_birth"))),
                             int(float(g("month_of_birth") or 7)),
                             int(float(g("day_of_birth") or 1))).isoformat()
            except ValueError as e:
                raise BadRecord("bad year/month/day_of_birth") from e
        else:
            raise BadRecord("missing year_of_birth")
        sex = GENDER.get(g("gender_concept_id")) or GENDER_SOURCE.get(
            g("gender_source_value").lower(), "unknown")
        pid = g("person_id")
        return Patient(id=pid, organization=inst, mrn=g("person_source_value") or pid,
                       resident_id=None, name="", gender=sex, birthDate=birth,
                       patient_id_regional=linker.link(resident_id=None, name=None,
                                                       birth_date=birth, gender=sex))
    if table == "visit_occurrence":
        start = _date(g("visit_start_datetime") or g("visit_start_date"), "visit_start_date")
        end = _date(g("visit_end_datetime") or g("visit_end_date"), "visit_end_date",
                    required=False)
        return Encounter(id=g("visit_occurrence_id"), organization=inst,
                         subject=g("person_id"), klass=VISIT.get(g("visit_concept_id"), ""),
                         status="finished" if end else "in-progress", start=start, end=end)
    if table == "condition_occurrence":
        src = g("condition_source_value")
        code = CONCEPT_ICD10.get(g("condition_concept_id"))
        if src:
            try:
                code = icd10(src, "condition_source_value")
            except BadRecord:
                if code is None:
                    raise
        if code is None:
            raise BadRecord(f"condition_concept_id {g('condition_concept_id')!r} has no "
                            "ICD-10 mapping and no condition_source_value")
        onset = _date(g("condition_start_datetime") or g("condition_start_date"),
                      "condition_start_date")
        return Condition(id=g("condition_occurrence_id"), organization=inst,
                         subject=g("person_id"), code=code, onset=onset or "")
    if table == "measurement":
        code = g("measurement_source_value") or g("measurement_concept_id")
        if not code:
            raise BadRecord("measurement without a code")
        value = None
        if g("value_as_number"):
            try:
                value = float(g("value_as_number"))
            except ValueError as e:
                raise BadRecord("value_as_number is not a number") from e
        value, unit = normalise_unit(code, value, g("unit_source_value"))
        return Observation(
            id=g("measurement_id"), organization=inst, subject=g("person_id"), code=code,
            system="http://loinc.org" if g("measurement_source_value") else
            "https://athena.ohdsi.org", value=value,
            value_text="" if value is not None else g("value_source_value"), unit=unit,
            effective=_date(g("measurement_datetime") or g("measurement_date"),
                            "measurement_date"))
    raise BadRecord(f"unknown table {table}")


def read_omop_file(path: Path, table: str, inst: str, linker: PatientLinker
                   ) -> Iterator[Resource | Reject]:
    src = str(path)
    try:
        if path.stat().st_size == 0:
            yield Reject(src, "file", "empty file")
            return
        with path.open("rb") as fh:
            head = fh.readline()
        sep = "\t" if b"\t" in head else ","
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep,
                             chunksize=CHUNK_ROWS, encoding="utf-8-sig")
        line = 1
        first = True
        for chunk in reader:
            chunk.columns = [str(c).strip().lower() for c in chunk.columns]
            if first:
                missing = [c for c in REQUIRED[table] if c not in chunk.columns]
                if missing:
                    yield Reject(src, "header", f"missing columns {', '.join(missing)}")
                    return
                first = False
            for rec in chunk.to_dict("records"):
                line += 1
                try:
                    for c in REQUIRED[table]:
                        if not str(rec.get(c) or "").strip():
                            raise BadRecord(f"missing {c}")
                    yield _row(table, rec, inst, linker)
                except BadRecord as e:
                    yield Reject(src, f"line {line}", str(e))
    except pd.errors.EmptyDataError:
        yield Reject(src, "file", "empty file")
    except UnicodeDecodeError as e:
        yield Reject(src, "file", f"cannot decode as UTF-8: {e.reason}")
    except (pd.errors.ParserError, ValueError, OSError) as e:
        yield Reject(src, "file", f"unreadable CSV: {str(e).splitlines()[0]}")


def read_omop_folder(folder: Path, inst: str, linker: PatientLinker
                     ) -> Iterator[Resource | Reject]:
    files = table_files(folder) if folder.is_dir() else {folder.stem.lower(): folder}
    if "person" not in files and folder.is_dir():
        yield Reject(str(folder), "folder", "no person table (person.csv)")
    for table in TABLES:
        if table in files:
            yield from read_omop_file(files[table], table, inst, linker)
