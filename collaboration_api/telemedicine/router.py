"""/telemedicine/encounters/{id}: join, report network conditions, force a lower profile."""

from __future__ import annotations

from fastapi import APIRouter

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession
from collaboration_api.problems import responses
from collaboration_api.supervision import audit
from collaboration_api.telemedicine import service
from collaboration_api.telemedicine.policy import NetworkReport
from collaboration_api.telemedicine.schemas import EncounterRead, ForceProfile

router = APIRouter(prefix="/telemedicine", tags=["telemedicine"],
                   responses=responses(401, 403, 404, 409))


@router.get("/encounters/{encounter_id}", response_model=EncounterRead)
def read_encounter(encounter_id: str, caller: CurrentUser, db: DbSession) -> EncounterRead:
    """The encounter with its video profile and quality history."""
    enc = service.load_encounter(db, caller, encounter_id)
    audit.record(db, caller, action="R", subtype="encounter.read", entity_type="Encounter",
                 entity_id=enc.id, patient_ref=enc.patient_ref,
                 entity_institution=enc.requester_institution)
    db.commit()
    return EncounterRead.model_validate(enc)


@router.post("/encounters/{encounter_id}/join", response_model=EncounterRead)
def join(encounter_id: str, data: NetworkReport, caller: CurrentUser,
         db: DbSession) -> EncounterRead:
    """Join the video session with a first network report; the answer holds the profile."""
    return EncounterRead.model_validate(
        service.report(db, caller, encounter_id=encounter_id, sample=data, kind="join"))


@router.post("/encounters/{encounter_id}/network", response_model=EncounterRead)
def network(encounter_id: str, data: NetworkReport, caller: CurrentUser,
            db: DbSession) -> EncounterRead:
    """A periodic network report (every few seconds while in the session)."""
    return EncounterRead.model_validate(
        service.report(db, caller, encounter_id=encounter_id, sample=data, kind="report"))


@router.post("/encounters/{encounter_id}/force", response_model=EncounterRead)
def force(encounter_id: str, data: ForceProfile, caller: CurrentUser,
          db: DbSession) -> EncounterRead:
    """Cap the session at a lower profile (e.g. to save a metered link)."""
    return EncounterRead.model_validate(
        service.force(db, caller, encounter_id=encounter_id, profile=data.profile))
