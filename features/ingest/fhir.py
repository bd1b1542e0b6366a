"""FHIR R4 JSON adapter: one Bundle file at a time (or a single resource file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from features.codes import (
    FHIR_PRIORITY_BACK,
    ICD10_SYSTEM,
    INSTITUTION_ID_SYSTEM,
    PRACTITIONER_ID_SYSTEM,
    RESIDENT_ID_SYSTEM,
    SPECIALTY_SYSTEM,
    SUB_SPECIALTY_SYSTEM,
    TIER_SYSTEM,
    TITLES,
)
from features.deid import scrub_text
from features.identity import PatientLinker, normalise_resident_id
from features.ingest.common import (
    BadRecord,
    Reject,
    gender,
    icd10,
    normalise_unit,
    parse_fhir_date,
    parse_fhir_datetime,
    specialty,
)
from features.records import (
    Appointment,
    Condition,
    DiagnosticReport,
    Encounter,
    ImagingStudy,
    Location,
    MedicationRequest,
    Observation,
    Organization,
    Patient,
    Practitioner,
    PractitionerRole,
    Procedure,
    Resource,
    Schedule,
    ServiceRequest,
    Slot,
    Task,
)

TIER_CODES = {"tertiary": 3, "secondary": 2, "community": 1, "3": 3, "2": 2, "1": 1}
TASK_STATUS = {"accepted": "accepted", "in-progress": "accepted", "ready": "accepted",
               "rejected": "declined", "cancelled": "declined", "failed": "declined",
               "completed": "completed"}


def _ref_id(ref: dict | None, rtype: str) -> str:
    """'Patient/123' or an absolute URL ending so -> '123'."""
    if not ref:
        return ""
    if "reference" in ref:
        r = str(ref["reference"])
        if r.startswith(("urn:uuid:", "urn:oid:")):  # Bundle-internal (Synthea): the id
            return r.split(":", 2)[2]
        parts = r.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == rtype:
            return parts[-1]
        return parts[-1]
    ident = ref.get("identifier") or {}
    return str(ident.get("value", ""))


def _codings(concepts: list | dict | None) -> list[dict]:
    if concepts is None:
        return []
    if isinstance(concepts, dict):
        concepts = [concepts]
    return [c for cc in concepts for c in (cc.get("coding") or [])]


def _first_code(concepts, system: str | None = None) -> str | None:
    for c in _codings(concepts):
        if system is None or c.get("system") == system:
            return c.get("code")
    return None


def _icd(concepts, what: str) -> str:
    code = _first_code(concepts, ICD10_SYSTEM) or _first_code(concepts)
    return icd10(code, what)


def _ext(res: dict, url: str):
    for e in res.get("extension") or []:
        if e.get("url") == url:
            for k, v in e.items():
                if k.startswith("value"):
                    return v
    return None


def _name(res: dict) -> str:
    for n in res.get("name") or []:
        if n.get("text"):
            return str(n["text"])
        fam, giv = n.get("family", ""), "".join(n.get("given") or [])
        if fam or giv:
            return f"{fam}{giv}"
    return ""


def _based_on(res: dict) -> str:
    """The referral an Appointment serves, as "<institution>|<its referral id>", from a
    ``basedOn`` identifier in the sender's referral system (urn:regioncare:<inst>:referral)."""
    for ref in res.get("basedOn") or []:
        ident = ref.get("identifier") or {}
        system, value = str(ident.get("system", "")), str(ident.get("value", ""))
        parts = system.split(":")
        if value and len(parts) == 4 and parts[:2] == ["urn", "regioncare"] \
                and parts[3] == "referral":
            return f"{parts[2]}|{value}"
    return ""


def normalise(res: dict, inst: str, linker: PatientLinker) -> Resource:
    rt = res.get("resourceType")
    rid = res.get("id")
    if not rid:
        raise BadRecord(f"{rt} without id")
    rid = str(rid)
    if rt == "Organization":
        code = next((i["value"] for i in res.get("identifier") or []
                     if i.get("system") == INSTITUTION_ID_SYSTEM), inst)
        addr = (res.get("address") or [{}])[0]
        tier = TIER_CODES.get(str(_first_code(res.get("type"), TIER_SYSTEM)), 0)
        return Organization(id=code, organization=inst, name=res.get("name", ""), tier=tier,
                            region=addr.get("district", ""),
                            region_name_zh=addr.get("city", ""),
                            region_name_en=str(_ext(addr, "urn:regioncare:extension:"
                                                          "region-name-en") or ""))
    if rt == "Location":
        pos = res.get("position") or {}
        return Location(id=rid, organization=inst, lat=pos.get("latitude"),
                        lon=pos.get("longitude"))
    if rt == "Practitioner":
        pid = next((i["value"] for i in res.get("identifier") or []
                    if i.get("system") == PRACTITIONER_ID_SYSTEM), rid)
        title = next((c.get("code") for q in res.get("qualification") or []
                      for c in (q.get("code") or {}).get("coding") or []
                      if c.get("code") in TITLES), "")
        exp = _ext(res, "urn:regioncare:extension:experience-years")
        langs = [c.get("text") or _first_code(c) or "" for c in res.get("communication") or []]
        return Practitioner(id=pid, organization=inst, name=_name(res),
                            gender=gender(res.get("gender")), title=title,
                            experience_years=int(exp) if exp is not None else None,
                            languages=[x for x in langs if x])
    if rt == "PractitionerRole":
        spec = _first_code(res.get("specialty"), SPECIALTY_SYSTEM)
        return PractitionerRole(id=rid, organization=inst,
                                practitioner=_ref_id(res.get("practitioner"), "Practitioner"),
                                specialty=specialty(spec),
                                sub_specialty=_first_code(res.get("specialty"),
                                                          SUB_SPECIALTY_SYSTEM) or "")
    if rt == "Schedule":
        actors = res.get("actor") or []
        pr = next((_ref_id(a, "Practitioner") for a in actors
                   if "Practitioner" in str(a.get("reference", "Practitioner"))), "")
        return Schedule(id=rid, organization=inst, practitioner=pr,
                        comment=res.get("comment", ""))
    if rt == "Slot":
        status = res.get("status")
        if status not in ("free", "busy", "busy-unavailable", "busy-tentative"):
            raise BadRecord(f"slot status {status!r}")
        return Slot(id=rid, organization=inst, schedule=_ref_id(res.get("schedule"),
                                                                 "Schedule"),
                    start=parse_fhir_datetime(res.get("start"), "slot start") or "",
                    end=parse_fhir_datetime(res.get("end"), "slot end") or "",
                    status="free" if status == "free" else "busy")
    if rt == "Patient":
        mrn, resident = rid, None
        for i in res.get("identifier") or []:
            codes = {c.get("code") for c in (i.get("type") or {}).get("coding") or []}
            if i.get("system") == RESIDENT_ID_SYSTEM or "NI" in codes:
                resident = normalise_resident_id(i.get("value"))
            elif "MR" in codes or str(i.get("system", "")).endswith(":mrn"):
                mrn = str(i.get("value", rid))
        reg = next((i.get("period", {}).get("start") for i in res.get("identifier") or []
                    if str(i.get("value")) == mrn), None)
        name = _name(res)
        birth = parse_fhir_date(res.get("birthDate"), "birthDate")
        sex = gender(res.get("gender"))
        phone = next((t.get("value", "") for t in res.get("telecom") or []
                      if t.get("system") == "phone"), "")
        addr = (res.get("address") or [{}])[0]
        return Patient(id=rid, organization=inst, mrn=mrn, resident_id=resident, name=name,
                       gender=sex, birthDate=birth, phone=phone,
                       address=addr.get("text", ""), district=addr.get("district", ""),
                       registered=parse_fhir_date(reg, "registration date"),
                       patient_id_regional=linker.link(resident_id=resident, name=name,
                                                       birth_date=birth, gender=sex))
    if rt == "Condition":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("Condition without subject")
        onset = res.get("onsetDateTime") or res.get("recordedDate")
        return Condition(id=rid, organization=inst, subject=subject,
                         code=_icd(res.get("code"), "condition code"),
                         onset=parse_fhir_datetime(onset, "onset") or "")
    if rt == "ServiceRequest":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("ServiceRequest without subject")
        performers = res.get("performer") or []
        target = _ref_id(performers[0], "Practitioner") if performers else ""
        if not target:
            raise BadRecord("ServiceRequest without performer")
        prio = res.get("priority", "routine")
        if prio not in FHIR_PRIORITY_BACK:
            raise BadRecord(f"priority {prio!r}")
        sid = next((str(i["value"]) for i in res.get("identifier") or [] if i.get("value")),
                   rid)
        return ServiceRequest(id=sid, organization=inst, subject=subject,
                              requester=_ref_id(res.get("requester"), "Practitioner"),
                              performer=target, reasonCode=_icd(res.get("reasonCode"),
                                                                "reason code"),
                              urgency=FHIR_PRIORITY_BACK[prio],
                              authoredOn=parse_fhir_datetime(res.get("authoredOn"),
                                                             "authoredOn") or "")
    if rt == "Task":
        status = TASK_STATUS.get(str(res.get("status")))
        if status is None:
            raise BadRecord(f"task status {res.get('status')!r} is not a referral decision")
        outcome = _first_code(res.get("businessStatus"))
        if outcome not in (None, "good", "poor"):
            raise BadRecord(f"task businessStatus {outcome!r}")
        return Task(id=rid, organization=inst, focus=_ref_id(res.get("focus"),
                                                             "ServiceRequest"),
                    status=status, outcome=outcome if status == "completed" else None,
                    lastModified=parse_fhir_datetime(res.get("lastModified"),
                                                     "lastModified") or "",
                    execution_start=parse_fhir_datetime(
                        (res.get("executionPeriod") or {}).get("start"), "execution start",
                        required=False))
    if rt == "Encounter":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("Encounter without subject")
        period = res.get("period") or {}
        klass = res.get("class") or {}
        if isinstance(klass, list):  # R5 shape seen in some exports
            klass = (_codings(klass) or [{}])[0]
        code = str(klass.get("code", "")).upper()
        status = str(res.get("status", ""))
        return Encounter(id=rid, organization=inst, subject=subject,
                         klass={"IMP": "inpatient", "ACUTE": "inpatient",
                                "NONAC": "inpatient", "AMB": "outpatient",
                                "EMER": "emergency", "VR": "outpatient",
                                "HH": "outpatient"}.get(code, ""),
                         status="finished" if status == "finished" else "in-progress",
                         start=parse_fhir_datetime(period.get("start"), "period.start",
                                                   required=False),
                         end=parse_fhir_datetime(period.get("end"), "period.end",
                                                 required=False),
                         specialty=_first_code(res.get("serviceType"), SPECIALTY_SYSTEM)
                         or "")
    if rt == "Observation":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("Observation without subject")
        coding = (_codings(res.get("code")) or [{}])[0]
        if not coding.get("code"):
            raise BadRecord("Observation without code")
        q = res.get("valueQuantity") or {}
        value = q.get("value")
        if value is not None:
            value = float(value)
        value, unit = normalise_unit(str(coding["code"]), value,
                                     str(q.get("code") or q.get("unit") or ""))
        text = res.get("valueString") or ((res.get("valueCodeableConcept") or {}).get(
            "text")) or ""
        return Observation(id=rid, organization=inst, subject=subject,
                           code=str(coding["code"]), system=str(coding.get("system", "")),
                           value=value, value_text=str(text) if value is None else "",
                           unit=unit, effective=parse_fhir_datetime(
                               res.get("effectiveDateTime") or res.get("issued"),
                               "effective time", required=False))
    if rt == "Appointment":
        subject = pract = ""
        for p in res.get("participant") or []:
            ref = str((p.get("actor") or {}).get("reference", ""))
            if ref.startswith("Patient/"):
                subject = ref.split("/")[-1]
            elif ref.startswith("Practitioner/"):
                pract = ref.split("/")[-1]
        if not subject:
            raise BadRecord("Appointment without a patient participant")
        return Appointment(id=rid, organization=inst, subject=subject, practitioner=pract,
                           start=parse_fhir_datetime(res.get("start"), "start") or "",
                           end=parse_fhir_datetime(res.get("end"), "end", required=False),
                           status=str(res.get("status", "booked")),
                           created=parse_fhir_datetime(res.get("created"), "created",
                                                       required=False),
                           based_on=_based_on(res))
    if rt == "ImagingStudy":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("ImagingStudy without subject")
        uid = next((str(i.get("value", "")).removeprefix("urn:oid:")
                    for i in res.get("identifier") or [] if i.get("value")), rid)
        series = [{"uid": str(se.get("uid", "")),
                   "modality": str((se.get("modality") or {}).get("code", "")),
                   "number": str(se.get("number", "")),
                   "description": str(se.get("description", "")),
                   "instances": len(se.get("instance") or [])
                   or int(se.get("numberOfInstances") or 0)}
                  for se in res.get("series") or []]
        return ImagingStudy(id=rid, organization=inst, subject=subject, uid=uid,
                            started=parse_fhir_datetime(res.get("started"), "started",
                                                        required=False),
                            modalities=sorted({s["modality"] for s in series
                                               if s["modality"]}),
                            description=str(res.get("description", "")),
                            n_series=len(series),
                            n_instances=sum(s["instances"] for s in series), series=series,
                            endpoint=str(((res.get("endpoint") or [{}])[0]).get(
                                "reference", "")))
    if rt == "Procedure":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("Procedure without subject")
        coding = (_codings(res.get("code")) or [{}])[0]
        performed = res.get("performedDateTime") or (res.get("performedPeriod") or {}).get(
            "start")
        return Procedure(id=rid, organization=inst, subject=subject,
                         code=str(coding.get("code", "")), system=str(coding.get("system", "")),
                         status=str(res.get("status", "")),
                         performed=parse_fhir_datetime(performed, "performed", required=False))
    if rt == "MedicationRequest":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("MedicationRequest without subject")
        concept = res.get("medicationCodeableConcept") or {}
        coding = (_codings(concept) or [{}])[0]
        dosage = " ".join(str(d.get("text", "")) for d in res.get("dosageInstruction") or []
                          if d.get("text"))
        return MedicationRequest(
            id=rid, organization=inst, subject=subject,
            medication_code=str(coding.get("code", "")),
            medication_system=str(coding.get("system", "")),
            medication_text=str(concept.get("text") or coding.get("display") or ""),
            status=str(res.get("status", "")), intent=str(res.get("intent", "")),
            authored=parse_fhir_datetime(res.get("authoredOn"), "authoredOn", required=False),
            dosage_text=dosage)
    if rt == "DiagnosticReport":
        subject = _ref_id(res.get("subject"), "Patient")
        if not subject:
            raise BadRecord("DiagnosticReport without subject")
        coding = (_codings(res.get("code")) or [{}])[0]
        return DiagnosticReport(
            id=rid, organization=inst, subject=subject, code=str(coding.get("code", "")),
            system=str(coding.get("system", "")), status=str(res.get("status", "")),
            issued=parse_fhir_datetime(res.get("issued") or res.get("effectiveDateTime"),
                                       "issued", required=False),
            conclusion=str(res.get("conclusion", "")),
            results=[_ref_id(r, "Observation") for r in res.get("result") or []])
    raise BadRecord(f"resource type {rt!r} is not supported")


def _label(res: dict) -> str:
    """How a reject names its resource: a Patient's id is its MRN (an identifier), so
    only its position in the file names it."""
    rt = res.get("resourceType")
    return str(rt) if rt == "Patient" else f"{rt}/{res.get('id')}"


def read_fhir_file(path: Path, inst: str, linker: PatientLinker
                   ) -> Iterator[Resource | Reject]:
    """Yield normalised resources and rejects of one JSON file (a Bundle or a resource)."""
    src = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        yield Reject(src, "file", f"unreadable: {e.strerror or e}")
        return
    if not raw.strip():
        yield Reject(src, "file", "empty file")
        return
    if path.suffix.lower() == ".ndjson":
        yield from _read_ndjson(raw, src, inst, linker)
        return
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        yield Reject(src, "file", f"not UTF-8: {e.reason} at byte {e.start}")
        return
    except json.JSONDecodeError as e:
        yield Reject(src, f"line {e.lineno} col {e.colno}", f"invalid JSON: {e.msg}")
        return
    if not isinstance(doc, dict) or "resourceType" not in doc:
        yield Reject(src, "file", "not a FHIR resource (no resourceType)")
        return
    if doc["resourceType"] != "Bundle":
        entries = [(0, {"resource": doc})]
    else:
        entries = list(enumerate(doc.get("entry") or []))
        if not entries:
            yield Reject(src, "file", "Bundle without entries")
            return
    for k, entry in entries:
        pos = f"entry[{k}]"
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            yield Reject(src, pos, "entry without resource")
            continue
        try:
            yield normalise(res, inst, linker)
        except BadRecord as e:
            yield Reject(src, pos, f"{_label(res)}: {e}")
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            yield Reject(src, pos, f"{_label(res)}: malformed ({type(e).__name__}: "
                                   f"{scrub_text(str(e))})")


def _read_ndjson(raw: bytes, src: str, inst: str, linker: PatientLinker
                 ) -> Iterator[Resource | Reject]:
    """FHIR bulk-data NDJSON: one resource per line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        yield Reject(src, "file", f"not UTF-8: {e.reason} at byte {e.start}")
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        pos = f"line {n}"
        try:
            res = json.loads(line)
        except json.JSONDecodeError as e:
            yield Reject(src, pos, f"invalid JSON: {e.msg}")
            continue
        if not isinstance(res, dict):
            yield Reject(src, pos, "not a FHIR resource")
            continue
        try:
            yield normalise(res, inst, linker)
        except BadRecord as e:
            yield Reject(src, pos, f"{_label(res)}: {e}")
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
            yield Reject(src, pos, f"{_label(res)}: malformed ({type(e).__name__}: "
                                   f"{scrub_text(str(e))})")
