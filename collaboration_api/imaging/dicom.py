"""Reading a study's metadata from DICOM files with pydicom (pixel data is skipped)."""

from __future__ import annotations

import base64
import binascii
import io
from datetime import UTC, datetime
from typing import Any

from collaboration_api.problems import Problem


def _when(date: str | None, time: str | None) -> datetime | None:
    if not date:
        return None
    try:
        day = datetime.strptime(str(date)[:8], "%Y%m%d")
        t = str(time or "").split(".")[0].ljust(6, "0")[:6]
        return day.replace(hour=int(t[:2]), minute=int(t[2:4]), second=int(t[4:6]),
                           tzinfo=UTC)
    except ValueError:
        return None


def read_study(instances: list[str]) -> dict[str, Any]:
    """Study, series and instance counts from base64 Part-10 files of one study."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    study: dict[str, Any] = {}
    series: dict[str, dict[str, Any]] = {}
    sops: set[str] = set()
    for n, blob in enumerate(instances):
        try:
            raw = base64.b64decode(blob, validate=True)
            ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        except (binascii.Error, ValueError, InvalidDicomError, EOFError) as exc:
            raise Problem(422, "Not DICOM", f"instances.{n}: not a DICOM file ({exc})"
                          ) from None
        uid = str(ds.get("StudyInstanceUID") or "")
        if not uid or not ds.get("SeriesInstanceUID") or not ds.get("SOPInstanceUID"):
            raise Problem(422, "Incomplete DICOM", f"instances.{n}: Study/Series/SOP "
                                                   "Instance UID missing")
        if study and uid != study["study_uid"]:
            raise Problem(422, "Several studies", f"instances.{n} belongs to study {uid}, "
                                                  f"not {study['study_uid']}")
        if not study:
            study = {"study_uid": uid, "accession": str(ds.get("AccessionNumber") or "")
                     or None, "description": str(ds.get("StudyDescription") or "") or None,
                     "started": _when(ds.get("StudyDate"), ds.get("StudyTime"))}
        s_uid = str(ds.SeriesInstanceUID)
        entry = series.setdefault(s_uid, {
            "uid": s_uid, "number": int(ds.get("SeriesNumber") or 0) or None,
            "modality": str(ds.get("Modality") or "OT"),
            "body_part": str(ds.get("BodyPartExamined") or "") or None,
            "description": str(ds.get("SeriesDescription") or "") or None,
            "instances": 0, "sop_class": str(ds.get("SOPClassUID") or "") or None})
        sop = str(ds.SOPInstanceUID)
        if sop not in sops:
            sops.add(sop)
            entry["instances"] += 1
    first = next(iter(series.values()))
    study.update(series=list(series.values()), series_count=len(series),
                 instance_count=len(sops), modality=first["modality"],
                 body_part=next((s["body_part"] for s in series.values() if s["body_part"]),
                                None))
    return study
