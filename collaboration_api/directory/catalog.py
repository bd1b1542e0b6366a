"""The regional resource directory: search (everyone) and administration (each
institution's admins, their own institution only) of institutions, departments,
practitioners and their roles, equipment with its own schedule, and the formulary.

Institutions and practitioners come from the record stores (ingest); departments, roles,
equipment, bookings and the formulary are kept here.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.db import as_utc, utcnow
from collaboration_api.directory import service as stores
from collaboration_api.directory.models import (
    Department,
    Equipment,
    EquipmentBooking,
    FormularyItem,
    PractitionerRoleEntry,
    PractitionerStatus,
)
from collaboration_api.directory.schemas import (
    BookingCreate,
    DepartmentCreate,
    EquipmentCreate,
    FormularyCreate,
    PractitionerUpdate,
    RoleCreate,
)
from collaboration_api.problems import Problem
from collaboration_api.supervision import audit
from regioncare.settings import Settings

BOOKERS = ("admin", "scheduler", "radiologist")
log = logging.getLogger("regioncare.directory")


def _admin(db: Session, caller: Caller, entity: str) -> None:
    if not caller.has_role("admin"):
        audit.deny(db, caller, 403, "only an institution's admins keep its directory",
                   entity_type=entity, action="C", entity_institution=caller.institution_id)


def _records(settings: Settings, rtype: str) -> list[tuple[str, dict]]:
    out = []
    for site in stores.institutions(settings):
        with stores._store(settings, site) as store:
            out += [(site, json.loads(body)) for _r, _t, body in store.iter_records(rtype)]
    return out


def search_institutions(*, settings: Settings, q: str | None, tier: int | None,
                        region: str | None, limit: int) -> list[dict[str, Any]]:
    found = []
    for site in stores.institutions(settings):
        org = stores.organization(settings, site) or {}
        row = {"id": site, "name": org.get("name"), "tier": org.get("tier"),
               "region": org.get("region"), "region_name_zh": org.get("region_name_zh"),
               "region_name_en": org.get("region_name_en")}
        if q and q.lower() not in f"{site} {row['name'] or ''}".lower():
            continue
        if (tier and row["tier"] != tier) or (region and row["region"] != region):
            continue
        found.append(row)
    return sorted(found, key=lambda r: r["id"])[:limit]


def search_practitioners(*, db: Session, settings: Settings, q: str | None,
                         specialty: str | None, institution: str | None,
                         limit: int, active: bool | None = None) -> list[dict[str, Any]]:
    people: dict[tuple[str, str], dict[str, Any]] = {}
    for site, p in _records(settings, "Practitioner"):
        people[(site, p["id"])] = {"id": p["id"], "institution_id": site,
                                   "name": p.get("name"), "specialties": [], "roles": []}
    for site, r in _records(settings, "PractitionerRole"):
        person = people.get((site, str(r.get("practitioner"))))
        if person and r.get("specialty"):
            person["specialties"].append(str(r["specialty"]))
    for role in db.scalars(select(PractitionerRoleEntry).where(
            PractitionerRoleEntry.active.is_(True))):
        person = people.get((role.institution_id, role.practitioner_id))
        if person:
            person["roles"].append(role.code)
            if role.specialty and role.specialty not in person["specialties"]:
                person["specialties"].append(role.specialty)
    for status in db.scalars(select(PractitionerStatus)):
        person = people.get((status.institution_id, status.practitioner_id))
        if person:
            person["active"] = status.active
            if status.specialty:  # the admin's specialty is the primary one
                person["specialties"] = [status.specialty] + [
                    s for s in person["specialties"] if s != status.specialty]
    out = []
    for person in people.values():
        if active is not None and person.get("active", True) != active:
            continue
        if institution and person["institution_id"] != institution:
            continue
        if specialty and specialty.lower() not in [s.lower() for s in person["specialties"]]:
            continue
        if q and q.lower() not in f"{person['id']} {person['name'] or ''}".lower():
            continue
        out.append(person)
    return sorted(out, key=lambda p: (p["institution_id"], p["id"]))[:limit]


def update_practitioner(*, db: Session, settings: Settings, caller: Caller,
                        practitioner_id: str, data: PractitionerUpdate) -> PractitionerStatus:
    """An admin changes a practitioner of their own institution (active, specialty, weekly
    capacity); the models read these, so the change goes to the feature store on commit."""
    if not caller.has_role("admin"):
        audit.deny(db, caller, 403, "only an institution's admins keep its directory",
                   entity_type="Practitioner", entity_id=practitioner_id, action="U",
                   entity_institution=caller.institution_id)
    found = stores.find_record(settings, "Practitioner", practitioner_id,
                               caller.institution_id)
    if found is None:
        audit.deny(db, caller, 404, f"no practitioner {practitioner_id}",
                   entity_type="Practitioner", entity_id=practitioner_id, action="U")
    holder = found[0]
    if holder != caller.institution_id:
        audit.deny(db, caller, 403, f"practitioner {practitioner_id} is kept by {holder}, "
                                    f"not {caller.institution_id}",
                   entity_type="Practitioner", entity_id=practitioner_id, action="U",
                   entity_institution=holder)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise Problem(422, "Nothing to change", "give active, specialty or weekly_capacity")
    row = db.get(PractitionerStatus, (holder, practitioner_id))
    if row is None:
        row = PractitionerStatus(institution_id=holder, practitioner_id=practitioner_id,
                                 active=True)
        db.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = utcnow(), caller.id
    audit.record(db, caller, action="U", subtype="directory.practitioner.update",
                 entity_type="Practitioner", entity_id=practitioner_id,
                 entity_institution=holder, detail=", ".join(sorted(changes)))
    db.flush()
    inactive = db.scalar(select(func.count()).select_from(PractitionerStatus).where(
        PractitionerStatus.institution_id == holder,
        PractitionerStatus.active.is_(False))) or 0
    _push_after_commit(db, settings, row, inactive)
    db.commit()
    return row


def _push_after_commit(db: Session, settings: Settings, row: PractitionerStatus,
                       inactive: int) -> None:
    """Tell the feature store once the change is committed, off the request path and best
    effort, like bookings (``schedule.service``): a failed push is logged, the change
    stands, the next push of this practitioner sends the whole state again."""
    if not (settings.feast_dir / "registry.db").exists():
        return  # no feature store on this deployment (e.g. API-only tests)
    from features.directory_push import PractitionerState

    state = PractitionerState(row.practitioner_id, row.institution_id, bool(row.active),
                              row.specialty, row.weekly_capacity)

    def push() -> None:
        try:
            from features.directory_push import push_practitioner

            push_practitioner(settings, state, inactive_at_institution=int(inactive))
        except Exception:
            log.warning("directory push to the feature store failed", exc_info=True)

    from collaboration_api.schedule import service as schedule

    # The bookings' single pusher: pushes of one practitioner's slots never overtake.
    event.listen(db, "after_commit", lambda _s: schedule._pusher.submit(push), once=True)


def add_department(*, db: Session, caller: Caller, data: DepartmentCreate) -> Department:
    _admin(db, caller, "Organization")
    row = Department(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                     name=data.name, specialty=data.specialty, created_at=utcnow())
    db.add(row)
    db.commit()
    return row


def departments(*, db: Session, institution: str | None) -> list[Department]:
    stmt = select(Department)
    if institution:
        stmt = stmt.where(Department.institution_id == institution)
    return list(db.scalars(stmt.order_by(Department.institution_id, Department.name)))


def _own_department(db: Session, caller: Caller, department_id: str | None) -> None:
    if department_id:
        dep = db.get(Department, department_id)
        if dep is None or dep.institution_id != caller.institution_id:
            raise Problem(422, "Unknown department", f"no department {department_id} at "
                                                     f"{caller.institution_id}")


def add_role(*, db: Session, settings: Settings, caller: Caller,
             data: RoleCreate) -> PractitionerRoleEntry:
    _admin(db, caller, "PractitionerRole")
    if not stores.practitioner_at(settings, caller.institution_id, data.practitioner_id):
        raise Problem(422, "Unknown practitioner", f"no practitioner "
                                                   f"{data.practitioner_id!r} at "
                                                   f"{caller.institution_id}")
    _own_department(db, caller, data.department_id)
    row = PractitionerRoleEntry(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                                practitioner_id=data.practitioner_id,
                                department_id=data.department_id, code=data.code,
                                specialty=data.specialty, active=True)
    db.add(row)
    db.commit()
    return row


def add_equipment(*, db: Session, caller: Caller, data: EquipmentCreate) -> Equipment:
    _admin(db, caller, "Device")
    _own_department(db, caller, data.department_id)
    row = Equipment(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                    department_id=data.department_id, modality=data.modality, name=data.name,
                    manufacturer=data.manufacturer, status="active")
    db.add(row)
    db.commit()
    return row


def equipment(*, db: Session, modality: str | None, institution: str | None
              ) -> list[Equipment]:
    stmt = select(Equipment).where(Equipment.status == "active")
    if modality:
        stmt = stmt.where(Equipment.modality == modality.upper())
    if institution:
        stmt = stmt.where(Equipment.institution_id == institution)
    return list(db.scalars(stmt.order_by(Equipment.institution_id, Equipment.name)))


def get_equipment(db: Session, caller: Caller, equipment_id: str) -> Equipment:
    row = db.get(Equipment, equipment_id)
    if row is None:
        raise Problem(404, "Not found", f"no equipment {equipment_id}")
    return row


def book_equipment(*, db: Session, caller: Caller, equipment_id: str,
                   data: BookingCreate) -> EquipmentBooking:
    """Book the device's own schedule: staff of its institution only, no overlaps."""
    row = get_equipment(db, caller, equipment_id)
    if row.institution_id != caller.institution_id:
        audit.deny(db, caller, 404, f"no equipment {equipment_id} at "
                                    f"{caller.institution_id}", entity_type="Device",
                   entity_id=equipment_id, action="C")
    if not caller.has_role(*BOOKERS):
        audit.deny(db, caller, 403, f"a {caller.role} may not book equipment",
                   entity_type="Device", entity_id=equipment_id, action="C",
                   entity_institution=row.institution_id)
    end = data.start + timedelta(minutes=data.minutes)
    for b in db.scalars(select(EquipmentBooking).where(
            EquipmentBooking.equipment_id == row.id)):
        if as_utc(b.start) < end and as_utc(b.end) > data.start:
            raise Problem(409, "Slot taken", f"{row.name} is booked from "
                                             f"{as_utc(b.start):%Y-%m-%d %H:%M}Z")
    booking = EquipmentBooking(id=str(uuid.uuid4()), equipment_id=row.id, start=data.start,
                               end=end, purpose=data.purpose, booked_by=caller.id,
                               created_at=utcnow())
    db.add(booking)
    db.commit()
    return booking


def bookings(*, db: Session, caller: Caller, equipment_id: str) -> list[EquipmentBooking]:
    row = get_equipment(db, caller, equipment_id)
    return list(db.scalars(select(EquipmentBooking).where(
        EquipmentBooking.equipment_id == row.id).order_by(EquipmentBooking.start)))


def add_formulary(*, db: Session, caller: Caller, data: FormularyCreate) -> FormularyItem:
    _admin(db, caller, "Medication")
    row = FormularyItem(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                        code=data.code, name=data.name, form=data.form,
                        strength=data.strength, max_days=data.max_days, active=True)
    db.add(row)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Problem(409, "Conflict", f"{data.code} is on the formulary already") from None
    return row


def formulary(*, db: Session, q: str | None, institution: str | None) -> list[FormularyItem]:
    stmt = select(FormularyItem).where(FormularyItem.active.is_(True))
    if institution:
        stmt = stmt.where(FormularyItem.institution_id == institution)
    if q:
        stmt = stmt.where(func.lower(FormularyItem.name).contains(q.lower())
                          | FormularyItem.code.startswith(q.upper()))
    return list(db.scalars(stmt.order_by(FormularyItem.institution_id, FormularyItem.code)))
