"""GET /fhir/{ResourceType}/{id}: FHIR R4 JSON."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.fhir import service
from collaboration_api.problems import responses

router = APIRouter(prefix="/fhir", tags=["fhir"],
                   responses=responses(401, 403, 404))
FHIR_JSON = "application/fhir+json"


@router.get("/{resource_type}/{resource_id}",
            responses={200: {"content": {FHIR_JSON: {"example": {
                "resourceType": "Task", "id": "3f0c...", "status": "accepted",
                "businessStatus": {"text": "accepted"}, "intent": "order",
                "focus": {"reference": "ServiceRequest/3f0c..."}}}},
                "description": "the resource as FHIR R4 JSON"}})
def read(resource_type: str, resource_id: str, db: DbSession, settings: SettingsDep,
         caller: CurrentUser) -> JSONResponse:
    """One resource: ServiceRequest, Task, Appointment, Encounter, Slot, Schedule,
    Practitioner, Organization or AuditEvent."""
    body = service.export(db=db, settings=settings, caller=caller, resource_type=resource_type,
                          resource_id=resource_id)
    return JSONResponse(body, media_type=FHIR_JSON)
