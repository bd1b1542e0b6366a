"""FHIR R4 JSON for the resources the platform holds.

Workflow resources (ServiceRequest, Task, Appointment, Encounter) come from the app
database and are shown only to the institutions taking part; directory resources
(Organization, Practitioner, Schedule, Slot) come from the institutions' record stores and
are open to every signed-in member of the alliance; AuditEvents to supervisors. Patients
appear only as their regional pseudonym (an identifier), never by name.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.consult.models import Consult
from collaboration_api.db import as_utc
from collaboration_api.directory import service as directory
from collaboration_api.problems import Problem
from collaboration_api.referral.models import Referral
from collaboration_api.schedule.models import Appointment
from collaboration_api.supervision import audit
from collaboration_api.supervision import service as supervision
from collaboration_api.supervision.models import AuditEvent
from collaboration_api.telemedicine.models import Encounter
from collaboration_api.workflow.service import Flow
from regioncare.settings import Settings

PSEUDONYM_SYSTEM = "urn:regioncare:patient-pseudonym"
INSTITUTION_SYSTEM = "urn:regioncare:institution"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
EXT_BASE = "https://regioncare.example.org/fhir/StructureDefinition"
SUPPORTED = ("ServiceRequest", "Task", "Appointment", "Encounter", "Slot", "Schedule",
             "Practitioner", "Organization", "AuditEvent", "ImagingStudy", "DiagnosticReport",
             "PractitionerRole", "Device", "Medication")
PART2 = ("ImagingStudy", "DiagnosticReport", "PractitionerRole", "Device", "Medication")
PRIORITY = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
SR_STATUS = {"draft": "draft", "completed": "completed", "cancelled": "revoked"}


def _ts(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat().replace("+00:00", "Z") if value else None


def _patient(ref: str) -> dict:
    return {"identifier": {"system": PSEUDONYM_SYSTEM, "value": ref}, "type": "Patient"}


def _org(code: str | None) -> dict | None:
    return {"reference": f"Organization/{code}"} if code else None


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (None, [], {}, "")}


def export(*, db: Session, settings: Settings, caller: Caller, resource_type: str,
           resource_id: str) -> dict[str, Any]:
    if resource_type not in SUPPORTED:
        raise Problem(404, "Unsupported resource type",
                      f"{resource_type} is not exported; supported: {', '.join(SUPPORTED)}")
    if resource_type in ("ServiceRequest", "Task"):
        subject, flow = _workflow_subject(db, caller, resource_id, resource_type)
        body = (_service_request(subject, flow) if resource_type == "ServiceRequest"
                else _task(subject, flow))
        _audit_read(db, caller, resource_type, resource_id, subject.patient_ref,
                    subject.institution_id)
        return body
    if resource_type in ("Appointment", "Encounter"):
        row: Appointment | Encounter | None = (
            db.get(Appointment, resource_id) if resource_type == "Appointment"
            else db.get(Encounter, resource_id))
        if row is None or caller.institution_id not in (row.institution_id,
                                                        row.requester_institution):
            audit.deny(db, caller, 404, f"no {resource_type} {resource_id}",
                       entity_type=resource_type, entity_id=resource_id)
        body = _appointment(row) if isinstance(row, Appointment) else _encounter(row)
        _audit_read(db, caller, resource_type, resource_id, row.patient_ref,
                    row.requester_institution)
        return body
    if resource_type == "AuditEvent":
        if not resource_id.isdigit():
            raise Problem(404, "Not found", f"no AuditEvent {resource_id}")
        event = supervision.visible_event(db=db, caller=caller, event_id=int(resource_id))
        return _audit_event(event)
    if resource_type in PART2:
        from collaboration_api.fhir import part2

        return part2.export(db=db, settings=settings, caller=caller,
                            resource_type=resource_type, resource_id=resource_id)
    found = directory.find_record(settings, resource_type, resource_id)
    if found is None:
        raise Problem(404, "Not found", f"no {resource_type} {resource_id}")
    holder, record = found
    return {"Organization": _organization, "Practitioner": _practitioner,
            "Schedule": _schedule, "Slot": _slot}[resource_type](record, holder)


def _audit_read(db: Session, caller: Caller, rtype: str, rid: str, patient_ref: str | None,
                institution: str | None) -> None:
    audit.record(db, caller, action="R", subtype="fhir.read", entity_type=rtype, entity_id=rid,
                 patient_ref=patient_ref, entity_institution=institution)
    db.commit()


def _workflow_subject(db: Session, caller: Caller, rid: str, rtype: str) -> tuple[Any, Flow]:
    from collaboration_api.consult.service import FLOW as CONSULT_FLOW
    from collaboration_api.referral.service import FLOW as REFERRAL_FLOW

    for model, flow in ((Referral, REFERRAL_FLOW), (Consult, CONSULT_FLOW)):
        row = db.get(model, rid)
        if row is not None:
            if flow.visible(caller, row):
                return row, flow
            break
    audit.deny(db, caller, 404, f"no {rtype} {rid}", entity_type=rtype, entity_id=rid)


def _service_request(s: Any, flow: Flow) -> dict:
    is_referral = flow.subject_type == "referral"
    performer = s.target_practitioner_id if is_referral else s.expert_practitioner_id
    status = SR_STATUS.get(s.status, "active")
    if s.business_status == "declined":
        status = "active"
    notes = [{"text": s.reason if is_referral else s.question}]
    if is_referral and s.discharge_summary:
        notes.append({"text": f"Discharge summary: {s.discharge_summary}"})
        notes.append({"text": f"Follow-up plan: {s.follow_up_plan}"})
    if not is_referral and s.opinion:
        notes.append({"text": f"Opinion: {s.opinion}"})
    return _clean({
        "resourceType": "ServiceRequest", "id": s.id, "status": status, "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct",
                                  "code": "3457005" if is_referral else "11429006",
                                  "display": "Patient referral" if is_referral
                                  else "Consultation"}]}],
        "priority": PRIORITY.get(s.urgency, "routine"),
        "code": {"text": "Referral" if is_referral else f"Remote consultation ({s.mode})"},
        "subject": _patient(s.patient_ref),
        "authoredOn": _ts(s.created_at),
        "requester": _org(s.institution_id),
        "performer": [{"reference": f"Practitioner/{performer}"}] if performer else [],
        "reasonCode": [{"coding": [{"system": ICD10_SYSTEM, "code": s.diagnosis_code}]}],
        "supportingInfo": [{"reference": a["reference"], "display": a.get("title")}
                           if a.get("title") else {"reference": a["reference"]}
                           for a in (getattr(s, "attachments", None) or [])],
        "note": notes,
    })


def _task(s: Any, flow: Flow) -> dict:
    owner = flow.target_of(s)
    return _clean({
        "resourceType": "Task", "id": s.id, "status": s.status,
        "businessStatus": {"text": s.business_status},
        "statusReason": {"text": s.status_reason} if s.status_reason else None,
        "intent": "order", "focus": {"reference": f"ServiceRequest/{s.id}"},
        "for": _patient(s.patient_ref), "authoredOn": _ts(s.created_at),
        "lastModified": _ts(s.updated_at), "requester": _org(s.institution_id),
        "owner": _org(owner),
    })


def _appointment(a: Appointment) -> dict:
    participants = [{"actor": _patient(a.patient_ref), "status": "accepted"}]
    if a.practitioner_id:
        participants.append({"actor": {"reference": f"Practitioner/{a.practitioner_id}"},
                             "status": "accepted"})
    return _clean({
        "resourceType": "Appointment", "id": a.id, "status": a.status,
        "start": _ts(a.start), "end": _ts(a.end), "created": _ts(a.created_at),
        "basedOn": [{"reference": f"ServiceRequest/{a.subject_id}"}],
        "participant": participants,
    })


def _encounter(e: Encounter) -> dict:
    ext = [{"url": f"{EXT_BASE}/video-quality-history",
            "valueString": json.dumps(e.quality_history or [])}] if e.quality_history else []
    if e.video_profile:
        ext.append({"url": f"{EXT_BASE}/video-profile", "valueCode": e.video_profile})
    return _clean({
        "resourceType": "Encounter", "id": e.id, "status": e.status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": e.class_code,
                  "display": "virtual" if e.class_code == "VR" else "ambulatory"},
        "subject": _patient(e.patient_ref),
        "basedOn": [{"reference": f"ServiceRequest/{e.subject_id}"}],
        "period": _clean({"start": _ts(e.period_start), "end": _ts(e.period_end)}),
        "serviceProvider": _org(e.institution_id),
        "extension": ext,
    })


def _audit_event(e: AuditEvent) -> dict:
    who = _clean({"identifier": {"system": "urn:regioncare:user", "value": e.actor_id}
                  if e.actor_id else None,
                  "display": f"{e.actor_username} ({e.actor_role}, {e.actor_institution})"
                  if e.actor_username else "anonymous"})
    agent = _clean({"who": who, "requestor": True,
                    "network": {"address": e.source_ip, "type": "2"} if e.source_ip else None})
    entity = _clean({
        "what": {"reference": f"{e.entity_type}/{e.entity_id}"} if e.entity_id
        else {"display": e.entity_type},
        "description": e.outcome_desc or None,
    })
    entities = [entity]
    if e.patient_ref:
        entities.append({"what": _patient(e.patient_ref),
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/"
                                            "audit-entity-type", "code": "1"}})
    if e.grant_id:  # the ledger grant (a recorded consent) the read was made under
        entities.append({"what": {"reference": f"Consent/{e.grant_id}"},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/"
                                            "audit-entity-type", "code": "2"}})
    return _clean({
        "resourceType": "AuditEvent", "id": str(e.id),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                 "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "urn:regioncare:audit-subtype", "code": e.subtype}],
        "action": e.action, "recorded": _ts(e.recorded), "outcome": e.outcome,
        "outcomeDesc": e.outcome_desc or None,
        "purposeOfEvent": [{"coding": [{"system": "urn:regioncare:purpose-of-use",
                                        "code": e.purpose}]}] if e.purpose else None,
        "agent": [agent],
        "source": {"site": e.path or None,
                   "observer": {"display": "RegionCare collaboration API"}},
        "entity": entities,
    })


def _organization(r: dict, holder: str) -> dict:
    tier = {1: "community", 2: "secondary", 3: "tertiary"}.get(int(r.get("tier") or 0))
    return _clean({
        "resourceType": "Organization", "id": r["id"], "active": True,
        "identifier": [{"system": INSTITUTION_SYSTEM, "value": r.get("organization") or holder}],
        "type": [{"text": f"{tier} hospital"}] if tier else [],
        "name": r.get("name") or None,
        "address": [_clean({"district": r.get("region_name_en") or r.get("region")})]
        if r.get("region") else [],
    })


def _practitioner(r: dict, holder: str) -> dict:
    gender = r.get("gender") if r.get("gender") in ("male", "female", "other") else "unknown"
    return _clean({
        "resourceType": "Practitioner", "id": r["id"], "active": True,
        "name": [{"text": r.get("name")}] if r.get("name") else [],
        "gender": gender,
        "qualification": [{"code": {"text": r["title"]}}] if r.get("title") else [],
        "extension": [{"url": f"{EXT_BASE}/holder",
                       "valueReference": {"reference": f"Organization/{holder}"}}],
    })


def _schedule(r: dict, holder: str) -> dict:
    return _clean({
        "resourceType": "Schedule", "id": r["id"], "active": True,
        "actor": [{"reference": f"Practitioner/{r.get('practitioner')}"}],
        "comment": r.get("comment") or None,
    })


def _slot(r: dict, holder: str) -> dict:
    return _clean({
        "resourceType": "Slot", "id": r["id"],
        "schedule": {"reference": f"Schedule/{r.get('schedule')}"},
        "status": r.get("status") if r.get("status") in ("free", "busy") else "busy",
        "start": r.get("start"), "end": r.get("end"),
    })
