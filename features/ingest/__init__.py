"""Ingest hospital exports into the institution record stores and rebuild the offline
tables.

``ingest(paths, *, settings, institution=None, fmt="auto", progress=None) -> IngestReport``

A folder with a ``manifest.json`` (written by ``synth``) is ingested whole; otherwise
``institution`` names the holder. Formats: FHIR R4 (JSON/NDJSON), HIS CSV + mapping.json,
HL7 v2 (``hl7v2``), OMOP CDM CSV (``omop``), DICOM metadata (``dicom``). Bad records and
files never stop a batch: they are written to the quarantine (JSONL) and listed in the
report. Then the MPI pass links patients across all stores (``features.mpi``), a
data-quality report is written (``features.quality``) and the offline tables are rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from features.identity import DeterministicLinker, PatientLinker
from features.ingest.common import Reject
from features.ingest.dicom import is_dicom_file, read_dicom_source
from features.ingest.fhir import read_fhir_file
from features.ingest.his_csv import read_csv_folder
from features.ingest.hl7v2 import read_hl7_file
from features.ingest.omop import TABLES as OMOP_TABLES
from features.ingest.omop import is_omop_folder, read_omop_folder
from features.quality import QualityTracker, write_report
from features.records import RecordStore, Resource
from regioncare.errors import UserError

SUPPORTED = ("fhir", "csv", "hl7v2", "omop", "dicom")
LATER: tuple[str, ...] = ()
HL7_SUFFIXES = (".hl7", ".er7", ".hl7v2", ".msg")
BATCH = 2000
# The report lists the first rejects; the quarantine file holds all of them.
MAX_REPORTED_REJECTS = 1000
_INST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    rejects: list[dict] = field(default_factory=list)
    quarantine: str = ""
    tables: dict[str, int] = field(default_factory=dict)  # offline rows (not in to_json)
    identities: dict[str, int] = field(default_factory=dict)  # MPI pass (not in to_json)
    quality: str = ""  # path of the data-quality report (not in to_json)
    # seconds and records per stage: "fhir"/"csv"/... (adapter + store), "mpi", "offline"
    timings: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"accepted": self.accepted, "rejected": self.rejected,
                "by_type": dict(sorted(self.by_type.items())), "rejects": list(self.rejects),
                "quarantine": self.quarantine}


@dataclass(frozen=True)
class Source:
    institution: str
    fmt: str
    path: Path
    only: Path | None = None  # a single CSV file inside a mapped folder


def _check_inst(inst: str) -> str:
    if not _INST_RE.match(inst):
        raise UserError(f"institution code {inst!r} is not valid (letters, digits, '-')")
    return inst


def _detect(path: Path) -> str:
    if path.is_dir():
        if (path / "mapping.json").exists():
            return "csv"
        if is_omop_folder(path):
            return "omop"
        if any(path.glob("*.json")) or any(path.glob("*.ndjson")):
            return "fhir"
        if any(p.suffix.lower() in HL7_SUFFIXES for p in path.iterdir()):
            return "hl7v2"
        if any(p.suffix.lower() in (".dcm", ".dicom") or (p.is_file() and is_dicom_file(p))
               for p in path.iterdir()):
            return "dicom"
        raise UserError(f"cannot tell the format of {path}: no mapping.json and no .json "
                        f"files; pass --format")
    suffix = path.suffix.lower()
    if suffix in (".json", ".ndjson"):
        return "fhir"
    if suffix in (".csv", ".tsv"):
        if not (path.parent / "mapping.json").exists() and path.stem.lower() in OMOP_TABLES:
            return "omop"
        return "csv"
    if suffix in HL7_SUFFIXES:
        return "hl7v2"
    if suffix in (".dcm", ".dicom") or is_dicom_file(path):
        return "dicom"
    raise UserError(f"cannot tell the format of {path}; pass --format")


def resolve_sources(paths: list[Path], institution: str | None, fmt: str
                    ) -> tuple[list[Source], dict]:
    """Expand PATHs into (institution, format, path) sources; also the manifests seen."""
    if fmt in LATER:
        raise UserError(f"format {fmt} is not supported yet")
    if fmt not in ("auto", *SUPPORTED):
        raise UserError(f"unknown format {fmt!r}; use auto, {', '.join(SUPPORTED)}")
    if not paths:
        raise UserError("no PATH given")
    sources: list[Source] = []
    meta: dict = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"cannot read {path}: no such file or folder")
        manifest = path / "manifest.json" if path.is_dir() else None
        if manifest is not None and manifest.exists():
            try:
                man = json.loads(manifest.read_text(encoding="utf-8"))
                exports = man["exports"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise UserError(f"cannot read {manifest}: {e}") from e
            if man.get("as_of"):
                meta["as_of"] = str(man["as_of"])
            regions = {}
            for r in man.get("regions") or []:
                if isinstance(r, dict) and r.get("region"):
                    regions[str(r["region"])] = {
                        k: r[k] for k in ("name_zh", "name_en", "lat", "lon") if k in r}
            if regions:
                meta.setdefault("regions", {}).update(regions)
            listed = [str(ex.get("institution")) for ex in exports]
            if institution and institution not in listed:
                raise UserError(f"institution {institution} is not in {manifest}")
            if not isinstance(exports, list) or not all(
                    isinstance(ex, dict) and ex.get("institution") and ex.get("path")
                    for ex in exports):
                raise UserError(f"{manifest}: exports must be a list of "
                                "{institution, format, path}")
            for ex in exports:
                inst = _check_inst(str(ex["institution"]))
                if institution and inst != institution:
                    continue
                target = (path / str(ex["path"])).resolve()
                if not target.is_relative_to(path.resolve()):
                    raise UserError(f"{manifest}: export path {ex['path']!r} leaves the folder")
                efmt = str(ex.get("format", "auto"))
                if efmt in LATER:
                    raise UserError(f"format {efmt} is not supported yet")
                if efmt not in ("auto", *SUPPORTED):
                    raise UserError(f"{manifest}: unknown format {efmt!r} for {inst}")
                sources.append(Source(inst, efmt if efmt != "auto" else _detect(
                    path / ex["path"]), path / ex["path"]))
            continue
        if not institution:
            raise UserError(f"{path} has no manifest.json: pass --institution CODE")
        inst = _check_inst(institution)
        f = fmt if fmt != "auto" else _detect(path)
        if f == "csv" and not ((path.parent if path.is_file() else path)
                               / "mapping.json").exists():
            raise UserError(f"no mapping.json next to {path}: the CSV columns cannot be "
                            "mapped")
        if f == "csv" and path.is_file():
            sources.append(Source(inst, "csv", path.parent, only=path))
        else:
            sources.append(Source(inst, f, path))
    return sources, meta


def _iter_source(src: Source, linker: PatientLinker) -> Iterator[Resource | Reject]:
    if src.fmt == "fhir":
        files = (sorted([*src.path.glob("*.json"), *src.path.glob("*.ndjson")])
                 if src.path.is_dir() else [src.path])
        files = [f for f in files if f.name != "mapping.json"]
        if not files:
            yield Reject(str(src.path), "folder", "no .json or .ndjson files")
        for f in files:
            yield from read_fhir_file(f, src.institution, linker)
    elif src.fmt == "csv":
        yield from read_csv_folder(src.path, src.institution, linker, only=src.only)
    elif src.fmt == "omop":
        yield from read_omop_folder(src.path, src.institution, linker)
    elif src.fmt == "dicom":
        yield from read_dicom_source(src.path, src.institution, linker)
    elif src.fmt == "hl7v2":
        files = (sorted(p for p in src.path.iterdir() if p.is_file())
                 if src.path.is_dir() else [src.path])
        if not files:
            yield Reject(str(src.path), "folder", "no HL7 files")
        for f in files:
            yield from read_hl7_file(f, src.institution, linker)
    else:  # pragma: no cover - resolve_sources guards this
        raise UserError(f"format {src.fmt} is not supported yet")


def ingest(paths: list[Path], *, settings, institution: str | None = None,
           fmt: str = "auto", progress: Callable[[int], None] | None = None,
           linker: PatientLinker | None = None, rebuild: bool = True) -> IngestReport:
    """Normalise exports into the record stores, quarantine bad input, rebuild offline.

    ``progress`` is called with the number of records handled since the last call.
    ``linker`` replaces the default deterministic patient linker (the MPI seam).
    """
    from features.offline import rebuild_offline_tables, write_region_meta

    sources, meta = resolve_sources([Path(p) for p in paths], institution, fmt)
    use_mpi = linker is None  # a caller's own linker has the last word
    linker = linker or DeterministicLinker(settings.pseudonym_key)
    settings.records_dir.mkdir(parents=True, exist_ok=True)
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    report = IngestReport()
    by_type: Counter[str] = Counter()
    stores: dict[str, RecordStore] = {}
    digest = hashlib.sha256("\n".join(
        f"{s.institution}|{s.fmt}|{s.path.resolve()}|{s.only}" for s in sources
    ).encode()).hexdigest()[:12]
    qpath = settings.quarantine_dir / f"ingest-{digest}.jsonl"
    tmp = qpath.with_name(f".{qpath.name}.tmp")
    rejected = 0
    timings: dict[str, dict[str, float]] = {}
    quality = QualityTracker()
    try:
        with tmp.open("w", encoding="utf-8") as quarantine:
            for src in sources:
                store = stores.get(src.institution)
                if store is None:
                    store = RecordStore.for_institution(settings.records_dir, src.institution)
                    stores[src.institution] = store
                pending: list[Resource] = []
                handled = 0
                t0 = time.perf_counter()
                n0 = sum(by_type.values()) + rejected
                for item in _iter_source(src, linker):
                    handled += 1
                    if isinstance(item, Reject):
                        rejected += 1
                        quality.reject(item.reason, src.institution)
                        entry = item.to_json()
                        quarantine.write(json.dumps({**entry, "institution": src.institution},
                                                    ensure_ascii=False, sort_keys=True) + "\n")
                        if len(report.rejects) < MAX_REPORTED_REJECTS:
                            report.rejects.append(entry)
                    else:
                        pending.append(item)
                        by_type[item.resourceType] += 1
                        quality.add(item)
                    if len(pending) >= BATCH:
                        store.upsert_many(pending)
                        pending = []
                    if progress is not None and handled >= 500:
                        progress(handled)
                        handled = 0
                if pending:
                    store.upsert_many(pending)
                if progress is not None and handled:
                    progress(handled)
                t = timings.setdefault(src.fmt, {"seconds": 0.0, "records": 0})
                t["seconds"] += time.perf_counter() - t0
                t["records"] += sum(by_type.values()) + rejected - n0
        os.replace(tmp, qpath)
    finally:
        tmp.unlink(missing_ok=True)
        for st in stores.values():
            st.close()
    report.by_type = dict(sorted(by_type.items()))
    report.accepted = sum(by_type.values())
    report.rejected = rejected
    report.quarantine = str(qpath)
    report.quality = str(write_report(settings, digest, quality.to_json(
        [{"institution": x.institution, "format": x.fmt, "path": str(x.only or x.path)}
         for x in sources])))
    if use_mpi:
        from features.mpi import resolve_identities

        t0 = time.perf_counter()
        report.identities = resolve_identities(settings)
        timings["mpi"] = {"seconds": time.perf_counter() - t0,
                          "records": report.identities["records"]}
    if meta:
        write_region_meta(settings, meta)
    if rebuild:
        t0 = time.perf_counter()
        report.tables = rebuild_offline_tables(settings)
        timings["offline"] = {"seconds": time.perf_counter() - t0,
                              "records": sum(report.tables.values())}
    report.timings = timings
    return report


__all__ = ["ingest", "IngestReport", "resolve_sources", "Source"]
