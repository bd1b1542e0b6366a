"""Patients as each institution's own record store knows them.

Records stay at their holder: the API reads a patient from the store of the institution
that holds them, and only the regional pseudonym travels on to features and models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regioncare.settings import Settings

MAX_PAGE = 200


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
