"""Patients as each institution's own record store knows them.

Records stay at their holder: the API reads a patient from the store of the institution
that holds them, and only the regional pseudonym travels on to features and models.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from collaboration_api.workflow.schemas import DecisionRead
from regioncare.settings import Settings
from serving.schemas import RecommendItem

# what carries a practitioner by institution and id, and gets a name beside them
Named = TypeVar("Named", RecommendItem, DecisionRead)
MAX_PAGE = 200
PATIENT_ROLES = ("clinician", "specialist", "scheduler", "radiologist")


@dataclass(frozen=True)
class PatientRef:
    institution_id: str
    patient_id: str
    pseudonym: str


def institutions(settings: Settings) -> list[str]:
    root = settings.records_dir
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "records.sqlite").exists())


def _store(settings: Settings, institution_id: str):  # -> features.records.RecordStore
    from features.records import RecordStore

    return RecordStore(Path(settings.records_dir) / institution_id / "records.sqlite")


def list_patients(settings: Settings, *, institution_id: str | None, cursor: str | None,
                  limit: int) -> tuple[list[dict], str | None]:
    """A page of patients; the cursor is ``institution:offset`` so pages never overlap."""
    limit = max(1, min(limit, MAX_PAGE))
    known = institutions(settings)
    sites = [institution_id] if institution_id else known
    if institution_id and institution_id not in known:
        return [], None
    site_index, offset = 0, 0
    if cursor:
        site, _, off = cursor.rpartition(":")
        if site not in sites or not off.isdigit():
            raise ValueError(f"bad cursor {cursor!r}")
        site_index, offset = sites.index(site), int(off)
    items: list[dict] = []
    while site_index < len(sites) and len(items) < limit:
        want = limit - len(items)
        with _store(settings, sites[site_index]) as store:
            page = store.patients(offset, want)
        items.extend({**p, "institution_id": sites[site_index]} for p in page)
        if len(page) < want:  # this site is exhausted: go on with the next one
            site_index, offset = site_index + 1, 0
        else:
            offset += len(page)
    nxt = f"{sites[site_index]}:{offset}" if site_index < len(sites) and items else None
    return items, nxt


def find_patient(settings: Settings, patient_id: str,
                 institution_id: str | None = None) -> PatientRef | None:
    sites = [institution_id] if institution_id else institutions(settings)
    for site in sites:
        with _store(settings, site) as store:
            found = store.find_patient(patient_id)
        if found is not None:
            return PatientRef(site, patient_id, found["patient_id_regional"])
    return None


def institution_tier(institution_id: str) -> int:
    """Tier from the institution code's letter: R1-T1 tertiary, -S secondary, -C community."""
    letter = institution_id.split("-")[-1][:1].upper()
    return {"T": 3, "S": 2, "C": 1}.get(letter, 1)


def find_record(settings: Settings, resource_type: str, record_id: str,
                institution_id: str | None = None) -> tuple[str, dict] | None:
    """``(holder, resource)`` of a directory record (Organization, Practitioner, Schedule,
    Slot, ...) from the record stores; the holder's store is searched first when given."""
    import json

    known = institutions(settings)
    sites = [institution_id] if institution_id in known else []
    sites += [s for s in known if s not in sites]
    for site in sites:
        with _store(settings, site) as store:
            body = store.get(f"{resource_type}/{record_id}")
        if body is not None:
            return site, json.loads(body)
    return None


def practitioner_at(settings: Settings, institution_id: str, practitioner_id: str) -> bool:
    """True when the institution's store lists this practitioner."""
    if institution_id not in institutions(settings):
        return False
    with _store(settings, institution_id) as store:
        return store.get(f"Practitioner/{practitioner_id}") is not None


def _stamped(settings: Settings, institution_id: str) -> tuple[str, int, int] | None:
    """An institution's record store with its and its write-ahead log's change times (where
    changes land first): the key under which what was read from it stays valid."""
    path = Path(settings.records_dir) / institution_id / "records.sqlite"
    if not path.exists():
        return None
    wal = path.with_name(path.name + "-wal")
    return str(path), path.stat().st_mtime_ns, wal.stat().st_mtime_ns if wal.exists() else 0


def institution_directory(settings: Settings, institution_id: str) -> dict[str, Any]:
    """Practitioners and slots of one institution's record store; read once, again only
    after the store changes."""
    key = _stamped(settings, institution_id)
    return _read_directory(*key) if key else {"practitioners": [], "slots": {}}


def organization(settings: Settings, institution_id: str) -> dict[str, Any] | None:
    """The institution's own Organization record, read again only after its store changes."""
    key = _stamped(settings, institution_id)
    return _read_organization(*key) if key else None


@functools.lru_cache(maxsize=1024)
def _read_organization(path: str, _mtime: int, _wal_mtime: int) -> dict[str, Any] | None:
    import json

    from features.records import RecordStore

    with RecordStore(Path(path)) as store:
        for _rid, _t, body in store.iter_records("Organization"):
            return json.loads(body)
    return None


@functools.lru_cache(maxsize=64)
def _read_directory(path: str, _mtime: int, _wal_mtime: int) -> dict[str, Any]:
    import json

    from features.records import RecordStore

    people: dict[str, dict[str, Any]] = {}
    slots: dict[str, list[dict[str, Any]]] = {}
    with RecordStore(Path(path)) as store:
        for _rid, _t, body in store.iter_records("Practitioner"):
            p = json.loads(body)
            people[p["id"]] = {
                "id": p["id"],
                "name": p.get("name", ""),
                "title": p.get("title", ""),
                "specialty": None,
            }
        for _rid, _t, body in store.iter_records("PractitionerRole"):
            role = json.loads(body)
            if role.get("practitioner") in people:
                people[role["practitioner"]]["specialty"] = role.get("specialty")
        owner: dict[str, str] = {}  # schedule id -> practitioner id
        for _rid, _t, body in store.iter_records("Schedule"):
            sched = json.loads(body)
            owner[sched["id"]] = sched.get("practitioner", "")
        for _rid, _t, body in store.iter_records("Slot"):
            s = json.loads(body)
            who = s.get("practitioner") or owner.get(s.get("schedule", ""), "")
            slots.setdefault(who, []).append(
                {
                    "id": s["id"],
                    "start": s.get("start"),
                    "end": s.get("end"),
                    "status": s.get("status", "free"),
                }
            )
    for items in slots.values():
        items.sort(key=lambda s: s["start"] or "")
    return {"practitioners": sorted(people.values(), key=lambda p: p["id"]), "slots": slots}


def practitioner_names(settings: Settings, institution_id: str) -> dict[str, str]:
    """Practitioner id -> name at one institution (the recommender and the feature store
    know ids only)."""
    people = institution_directory(settings, institution_id)["practitioners"]
    return {p["id"]: p["name"] for p in people if p["name"]}


def practitioner_name(settings: Settings, institution_id: str | None,
                      practitioner_id: str | None) -> str | None:
    """One practitioner's name (a task keeps the id only); none for an unknown one."""
    if not (institution_id and practitioner_id):
        return None
    return practitioner_names(settings, institution_id).get(practitioner_id)


def with_names(settings: Settings, items: list[Named]) -> list[Named]:
    """Suggestions or decisions with each practitioner's name, for the people who read them."""
    names = {inst: practitioner_names(settings, inst) for inst in {i.institution_id for i in items}}
    return [i.model_copy(update={"practitioner_name": names[i.institution_id].get(
        i.practitioner_id)}) for i in items]


def named_decisions(settings: Settings, rows: list[Any]) -> list[DecisionRead]:
    """Decisions on practitioners (chosen, declined, accepted) with each one's name."""
    return with_names(settings, [DecisionRead.model_validate(r) for r in rows])


def first_practitioner(settings: Settings, institution_id: str) -> str | None:
    import json

    if institution_id not in institutions(settings):
        return None
    with _store(settings, institution_id) as store:
        for _rid, _t, body in store.iter_records("Practitioner"):
            return str(json.loads(body)["id"])
    return None


def practitioner_specialty(settings: Settings, institution_id: str,
                           practitioner_id: str) -> str | None:
    import json

    if institution_id not in institutions(settings):
        return None
    with _store(settings, institution_id) as store:
        for _rid, _t, body in store.iter_records("PractitionerRole"):
            role = json.loads(body)
            if role.get("practitioner") == practitioner_id:
                return str(role.get("specialty") or "") or None
    return None


def patients_for(*, db: Any, settings: Settings, caller: Any, cursor: str | None,
                 limit: int) -> tuple[list[dict], str | None]:
    """The caller's institution's patients, for the roles that care for them; audited."""
    from collaboration_api.supervision import audit

    if not caller.has_role(*PATIENT_ROLES):
        audit.deny(db, caller, 403, "role may not list patients", entity_type="Patient",
                   entity_institution=caller.institution_id)
    items, nxt = list_patients(settings, institution_id=caller.institution_id, cursor=cursor,
                               limit=limit)
    audit.record(db, caller, action="R", subtype="patient.list", entity_type="Patient",
                 entity_institution=caller.institution_id,
                 detail=f"{len(items)} patients listed")
    db.commit()
    return items, nxt


def own_patient(db: Any, settings: Settings, caller: Any, patient_id: str) -> PatientRef:
    """A patient of the caller's own institution, or an audited 404 (action "C")."""
    from collaboration_api.supervision import audit

    patient = find_patient(settings, patient_id, caller.institution_id)
    if patient is None:
        audit.deny(db, caller, 404, f"no patient {patient_id!r} at {caller.institution_id}",
                   entity_type="Patient", entity_id=patient_id, action="C",
                   entity_institution=caller.institution_id, title="Unknown patient")
    return patient

