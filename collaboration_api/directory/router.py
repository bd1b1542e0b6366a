"""GET /patients: the patients known at the caller's institution."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.directory import catalog, service
from collaboration_api.directory.schemas import (
    BookingCreate,
    BookingRead,
    DepartmentCreate,
    DepartmentRead,
    EquipmentCreate,
    EquipmentRead,
    FormularyCreate,
    FormularyRead,
    InstitutionRead,
    PatientPage,
    PatientRead,
    PractitionerSearchRead,
    PractitionerStatusRead,
    PractitionerUpdate,
    RoleCreate,
    RoleRead,
)
from collaboration_api.problems import Problem, responses

router = APIRouter(tags=["directory"], responses=responses(401))

@router.get("/patients", response_model=PatientPage,
            responses=responses(403))
def list_patients(
    settings: SettingsDep,
    db: DbSession,
    caller: CurrentUser,
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
) -> PatientPage:
    """A page of the patients of the caller's own institution (records stay at home)."""
    try:
        items, nxt = service.patients_for(db=db, settings=settings, caller=caller,
                                          cursor=cursor, limit=limit)
    except ValueError as exc:
        raise Problem(400, "Bad cursor", str(exc)) from exc
    return PatientPage(items=[PatientRead(**{k: v for k, v in p.items()
                                             if k in PatientRead.model_fields})
                              for p in items], next=nxt)


# ----------------------------------------------------------- the regional resource directory

MAX_RESULTS = 200
MAX_INSTITUTIONS = 1000  # the whole alliance in one answer (a large region has 240)


@router.get("/directory/institutions", response_model=list[InstitutionRead])
def search_institutions(settings: SettingsDep, caller: CurrentUser, q: str | None = None,
                        tier: int | None = Query(None, ge=1, le=3),
                        region: str | None = None,
                        limit: int = Query(50, ge=1, le=MAX_INSTITUTIONS)
                        ) -> list[InstitutionRead]:
    """Institutions of the alliance (tier 3 tertiary, 2 secondary, 1 community)."""
    return [InstitutionRead(**r) for r in catalog.search_institutions(
        settings=settings, q=q, tier=tier, region=region, limit=limit)]


@router.get("/directory/practitioners", response_model=list[PractitionerSearchRead])
def search_practitioners(settings: SettingsDep, db: DbSession, caller: CurrentUser,
                         q: str | None = None,
                         specialty: str | None = Query(None, examples=["cardiology"]),
                         institution: str | None = None,
                         active: bool | None = Query(None, description="only active (true) "
                                                                       "or inactive (false)"),
                         limit: int = Query(50, ge=1, le=MAX_RESULTS)
                         ) -> list[PractitionerSearchRead]:
    return [PractitionerSearchRead(**p) for p in catalog.search_practitioners(
        db=db, settings=settings, q=q, specialty=specialty, institution=institution,
        limit=limit, active=active)]


@router.patch("/directory/practitioners/{practitioner_id}",
              response_model=PractitionerStatusRead, responses=responses(403, 404, 422))
def update_practitioner(practitioner_id: str, data: PractitionerUpdate, db: DbSession,
                        settings: SettingsDep, caller: CurrentUser) -> PractitionerStatusRead:
    """An admin deactivates or reactivates a practitioner of their own institution, or
    changes their specialty or weekly capacity. The referral and scheduling models read
    these: once committed, the change reaches the online feature store within seconds
    (availability, profile, the institution's active staff)."""
    return PractitionerStatusRead.model_validate(catalog.update_practitioner(
        db=db, settings=settings, caller=caller, practitioner_id=practitioner_id, data=data))


@router.post("/directory/departments", status_code=201, response_model=DepartmentRead,
             responses=responses(403, 422))
def add_department(data: DepartmentCreate, db: DbSession, caller: CurrentUser
                   ) -> DepartmentRead:
    """An admin adds a department to their own institution."""
    return DepartmentRead.model_validate(catalog.add_department(db=db, caller=caller,
                                                                data=data))


@router.get("/directory/departments", response_model=list[DepartmentRead])
def departments(db: DbSession, caller: CurrentUser,
                institution: str | None = None) -> list[DepartmentRead]:
    return [DepartmentRead.model_validate(d)
            for d in catalog.departments(db=db, institution=institution)]


@router.post("/directory/practitioner-roles", status_code=201, response_model=RoleRead,
             responses=responses(403, 422))
def add_role(data: RoleCreate, db: DbSession, settings: SettingsDep,
             caller: CurrentUser) -> RoleRead:
    """An admin gives a practitioner of their institution a role (FHIR PractitionerRole)."""
    return RoleRead.model_validate(catalog.add_role(db=db, settings=settings, caller=caller,
                                                    data=data))


@router.post("/directory/equipment", status_code=201, response_model=EquipmentRead,
             responses=responses(403, 422))
def add_equipment(data: EquipmentCreate, db: DbSession, caller: CurrentUser) -> EquipmentRead:
    """An admin registers a device (CT, MRI, ultrasound, ...) of their institution."""
    return EquipmentRead.model_validate(catalog.add_equipment(db=db, caller=caller, data=data))


@router.get("/directory/equipment", response_model=list[EquipmentRead])
def equipment(db: DbSession, caller: CurrentUser,
              modality: str | None = Query(None, examples=["MR"]),
              institution: str | None = None) -> list[EquipmentRead]:
    return [EquipmentRead.model_validate(e)
            for e in catalog.equipment(db=db, modality=modality, institution=institution)]


@router.get("/directory/equipment/{equipment_id}/bookings", response_model=list[BookingRead],
            responses=responses(404))
def equipment_bookings(equipment_id: str, db: DbSession,
                       caller: CurrentUser) -> list[BookingRead]:
    """The device's schedule: the times it is booked (no patient data)."""
    return [BookingRead.model_validate(b)
            for b in catalog.bookings(db=db, caller=caller, equipment_id=equipment_id)]


@router.post("/directory/equipment/{equipment_id}/bookings", status_code=201,
             response_model=BookingRead, responses=responses(403, 404, 409, 422))
def book_equipment(equipment_id: str, data: BookingCreate, db: DbSession,
                   caller: CurrentUser) -> BookingRead:
    return BookingRead.model_validate(catalog.book_equipment(
        db=db, caller=caller, equipment_id=equipment_id, data=data))


@router.post("/directory/formulary", status_code=201, response_model=FormularyRead,
             responses=responses(403, 409, 422))
def add_formulary(data: FormularyCreate, db: DbSession, caller: CurrentUser) -> FormularyRead:
    """An admin puts a medicine on their institution's formulary (FHIR Medication)."""
    return FormularyRead.model_validate(catalog.add_formulary(db=db, caller=caller, data=data))


@router.get("/directory/formulary", response_model=list[FormularyRead])
def formulary(db: DbSession, caller: CurrentUser, q: str | None = None,
              institution: str | None = None) -> list[FormularyRead]:
    return [FormularyRead.model_validate(f)
            for f in catalog.formulary(db=db, q=q, institution=institution)]
