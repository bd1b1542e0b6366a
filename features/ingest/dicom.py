"""DICOM metadata adapter (pydicom): study / series / instance -> ImagingStudy (+ Patient).

Only the header is read (``stop_before_pixels``): pixel data stays at the source and the
ImagingStudy's ``endpoint`` says where (the folder or file it came from). Text decodes by
the file's SpecificCharacterSet, Chinese ones included (GB18030, GBK, ISO_IR 192 UTF-8,
ISO 2022 IR 58); a person name ``Wang^XiaoDong=王^小东`` gives the ideographic form.

Per source the instances are grouped by StudyInstanceUID (metadata only: a few hundred
bytes per series), then one ImagingStudy per study is produced. A file that is not DICOM,
is truncated before the header ends, or has no StudyInstanceUID / PatientID is
quarantined with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from features.identity import PatientLinker, normalise_resident_id
from features.ingest.common import BadRecord, Reject, gender, to_utc
from features.records import ImagingStudy, Patient, Resource

SEX = {"M": "male", "F": "female", "O": "unknown"}
SUFFIXES = (".dcm", ".dicom", "")


def _text(v) -> str:
    return "" if v is None else str(v).strip()


def person_name(pn) -> str:
    """Ideographic form of a DICOM PN when there is one, else the alphabetic form; the
    family^given components are joined (no space for CJK, a space otherwise)."""
    if pn is None:
        return ""
    try:
        groups = [pn.ideographic, pn.alphabetic]
    except AttributeError:
        groups = str(pn).split("=")[::-1][:2]
    for g in groups:
        g = _text(g)
        if not g:
            continue
        parts = [p for p in g.split("^") if p]
        if parts and ord(parts[0][0]) > 0x2E80:
            return "".join(parts)
        return " ".join(parts)
    return ""


def _when(d: str, t: str) -> str | None:
    d, t = _text(d), _text(t).split(".")[0]
    if len(d) != 8 or not d.isdigit():
        return None
    t = (t + "000000")[:6] if t.isdigit() else "000000"
    try:
        return to_utc(datetime.strptime(d + t, "%Y%m%d%H%M%S"))
    except ValueError:
        return None


def is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def dicom_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not p.name.startswith("."))


def read_dicom_source(path: Path, inst: str, linker: PatientLinker
                      ) -> Iterator[Resource | Reject]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    studies: dict[str, dict] = {}
    patients: dict[str, Patient] = {}
    files = dicom_files(path)
    if not files:
        yield Reject(str(path), "folder", "no DICOM files")
        return
    for f in files:
        src = str(f)
        try:
            if f.stat().st_size == 0:
                yield Reject(src, "file", "empty file")
                continue
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            uid = _text(ds.get("StudyInstanceUID"))
            pid = _text(ds.get("PatientID"))
            if not uid:
                raise BadRecord("no StudyInstanceUID")
            if not pid:
                raise BadRecord("no PatientID")
            if pid not in patients:
                name = person_name(ds.get("PatientName"))
                birth_raw = _text(ds.get("PatientBirthDate"))
                birth = (f"{birth_raw[:4]}-{birth_raw[4:6]}-{birth_raw[6:8]}"
                         if len(birth_raw) == 8 and birth_raw.isdigit() else None)
                sex = gender(SEX.get(_text(ds.get("PatientSex")).upper(), "unknown"))
                rid = normalise_resident_id(_text(ds.get("OtherPatientIDs")))
                patients[pid] = Patient(
                    id=pid, organization=inst, mrn=pid, resident_id=rid, name=name,
                    gender=sex, birthDate=birth,
                    patient_id_regional=linker.link(resident_id=rid, name=name,
                                                    birth_date=birth, gender=sex))
            st = studies.setdefault(uid, {
                "subject": pid, "started": _when(ds.get("StudyDate"), ds.get("StudyTime")),
                "description": _text(ds.get("StudyDescription")),
                "accession": _text(ds.get("AccessionNumber")), "series": {},
                "endpoint": str(path)})
            suid = _text(ds.get("SeriesInstanceUID")) or f"{uid}.unknown"
            se = st["series"].setdefault(suid, {
                "uid": suid, "modality": _text(ds.get("Modality")),
                "number": _text(ds.get("SeriesNumber")),
                "description": _text(ds.get("SeriesDescription")), "instances": 0})
            se["instances"] += 1
        except BadRecord as e:
            yield Reject(src, "file", str(e))
        except InvalidDicomError:
            yield Reject(src, "file", "not a DICOM file (no DICM preamble)")
        except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError,
                LookupError) as e:
            yield Reject(src, "file", f"unreadable DICOM header ({type(e).__name__})")
    yield from sorted(patients.values(), key=lambda p: p.id)
    for uid in sorted(studies):
        st = studies[uid]
        series = [st["series"][k] for k in sorted(st["series"])]
        yield ImagingStudy(
            id=uid, organization=inst, subject=st["subject"], uid=uid,
            started=st["started"],
            modalities=sorted({s["modality"] for s in series if s["modality"]}),
            description=st["description"], n_series=len(series),
            n_instances=sum(s["instances"] for s in series), series=series,
            endpoint=st["endpoint"])
