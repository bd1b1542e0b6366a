"""FHIR R4 JSON for the resources of part 2: ImagingStudy and DiagnosticReport (shown to
the institutions taking part: the registering site and the reading one), and the
directory's PractitionerRole, Device and Medication (open to every signed-in member)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.directory import service as directory
from collaboration_api.directory.models import Equipment, FormularyItem, PractitionerRoleEntry
from collaboration_api.fhir.service import EXT_BASE, _clean, _org, _patient, _ts
from collaboration_api.imaging import service as imaging
from collaboration_api.imaging.models import ImagingReport, ImagingStudy
from collaboration_api.problems import Problem
from collaboration_api.supervision import audit
from regioncare.settings import Settings

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ATC = "http://www.whocc.no/atc"
DEVICE_TYPE = {"CT": "Computed tomography scanner", "MR": "Magnetic resonance scanner",
               "US": "Ultrasound scanner", "DX": "Digital radiography unit"}


def export(*, db: Session, settings: Settings, caller: Caller, resource_type: str,
           resource_id: str) -> dict[str, Any]:
    if resource_type in ("ImagingStudy", "DiagnosticReport"):
        rep = db.get(ImagingReport, resource_id) if resource_type == "DiagnosticReport" \
            else None
        study = db.get(ImagingStudy, rep.study_id if rep else resource_id)
        if study is None or (resource_type == "DiagnosticReport" and rep is None) or \
                not imaging.visible(caller, study):
            audit.deny(db, caller, 404, f"no {resource_type} {resource_id}",
                       entity_type=resource_type, entity_id=resource_id)
        body = imaging_study(study) if rep is None else diagnostic_report(rep, study)
        audit.record(db, caller, action="R", subtype="fhir.read", entity_type=resource_type,
                     entity_id=resource_id, patient_ref=study.patient_ref,
                     entity_institution=study.institution_id)
        db.commit()
        return body
    if resource_type == "PractitionerRole":
        role = db.get(PractitionerRoleEntry, resource_id)
        if role is not None:
            return practitioner_role(role.id, role.institution_id, role.practitioner_id,
                                     role.code, role.specialty, role.active)
        found = directory.find_record(settings, "PractitionerRole", resource_id)
        if found is None:
            raise Problem(404, "Not found", f"no PractitionerRole {resource_id}")
        holder, r = found
        return practitioner_role(str(r["id"]), holder, str(r.get("practitioner")), None,
                                 r.get("specialty"), True)
    if resource_type == "Device":
        device = db.get(Equipment, resource_id)
        if device is None:
            raise Problem(404, "Not found", f"no Device {resource_id}")
        return _device(device)
    item = db.get(FormularyItem, resource_id)
    if item is None:
        raise Problem(404, "Not found", f"no Medication {resource_id}")
    return _medication(item)


def imaging_study(s: ImagingStudy) -> dict:
    status = {"registered": "registered", "assigned": "available", "reported": "available"}
    endpoint = {"resourceType": "Endpoint", "id": "origin", "status": "active",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/"
                                             "endpoint-connection-type",
                                   "code": "dicom-wado-rs"},
                "payloadType": [{"text": "DICOM"}], "address": s.dicomweb_url,
                "managingOrganization": _org(s.institution_id)}
    series = []
    for x in s.series or []:
        series.append(_clean({
            "uid": x["uid"], "number": x.get("number"),
            "modality": {"system": DCM, "code": x.get("modality") or s.modality},
            "description": x.get("description"),
            "numberOfInstances": x.get("instances"),
            "bodySite": {"display": x["body_part"]} if x.get("body_part") else None,
            "endpoint": [{"reference": "#origin"}],
        }))
    return _clean({
        "resourceType": "ImagingStudy", "id": s.id, "contained": [endpoint],
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{s.study_uid}"}]
        + ([{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                  "code": "ACSN"}]}, "value": s.accession}]
           if s.accession else []),
        "status": status.get(s.status, "unknown"),
        "modality": [{"system": DCM, "code": s.modality}],
        "subject": _patient(s.patient_ref),
        "started": _ts(s.started),
        "basedOn": [],
        "referrer": None,
        "endpoint": [{"reference": "#origin"}],
        "numberOfSeries": s.series_count, "numberOfInstances": s.instance_count,
        "description": s.description,
        "reasonCode": [{"text": s.reason}],
        "interpreter": [{"reference": f"Organization/{s.reader_institution}"}]
        if s.reader_institution else [],
        "series": series,
    })


def diagnostic_report(r: ImagingReport, s: ImagingStudy) -> dict:
    return _clean({
        "resourceType": "DiagnosticReport", "id": r.id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                  "code": "RAD", "display": "Radiology"}]}],
        "code": {"text": f"{s.modality} {s.body_part or ''} report".replace("  ", " ")},
        "subject": _patient(s.patient_ref),
        "effectiveDateTime": _ts(s.started) or _ts(s.registered_at),
        "issued": _ts(r.issued),
        "performer": [_org(r.author_institution)],
        "imagingStudy": [{"reference": f"ImagingStudy/{s.id}"}],
        "conclusion": r.conclusion,
        "presentedForm": [{"contentType": "text/plain", "title": "Findings",
                           "data": _b64(r.findings)}],
        "extension": [{"url": f"{EXT_BASE}/critical-finding", "valueBoolean": r.critical}],
    })


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def practitioner_role(rid: str, institution: str, practitioner: str, code: str | None,
                      specialty: str | None, active: bool) -> dict:
    return _clean({
        "resourceType": "PractitionerRole", "id": rid, "active": active,
        "practitioner": {"reference": f"Practitioner/{practitioner}"},
        "organization": _org(institution),
        "code": [{"text": code}] if code else [],
        "specialty": [{"text": specialty}] if specialty else [],
    })


def _device(d: Equipment) -> dict:
    return _clean({
        "resourceType": "Device", "id": d.id,
        "status": "active" if d.status == "active" else "inactive",
        "deviceName": [{"name": d.name, "type": "user-friendly-name"}],
        "manufacturer": d.manufacturer,
        "type": {"coding": [{"system": DCM, "code": d.modality,
                             "display": DEVICE_TYPE.get(d.modality, d.modality)}]},
        "owner": _org(d.institution_id),
    })


def _medication(m: FormularyItem) -> dict:
    return _clean({
        "resourceType": "Medication", "id": m.id,
        "code": {"coding": [{"system": ATC, "code": m.code, "display": m.name}],
                 "text": " ".join(x for x in (m.name, m.strength) if x)},
        "status": "active" if m.active else "inactive",
        "form": {"text": m.form} if m.form else None,
        "extension": [{"url": f"{EXT_BASE}/formulary-max-days",
                       "valueInteger": m.max_days},
                      {"url": f"{EXT_BASE}/formulary-holder",
                       "valueReference": _org(m.institution_id)}],
    })

