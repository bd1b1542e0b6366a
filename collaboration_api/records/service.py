"""A patient's records across the alliance, each read checked against the ledger.

Records held at the caller's own institution: the caller's role decides and the read is
audited. Records held elsewhere are located through the ledger's index; for each one
``canRead`` is asked on chain for the caller's institution and role (cached a few seconds),
the bytes are fetched from the holder's store, their SHA-256 recomputed and compared with
the ledger (a mismatch is withheld and reported, never returned), the access is appended to
the Merkle access log and an AuditEvent naming the grant is committed; only then is the
record returned. A denial is logged in both places as well.

Grants live on chain (one per patient, grantee institution and role); only the patient's
home institution gives or revokes them. Accepting a referral grants the receiving
institution read access for the referral (:func:`grant_for_referral`).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.directory import service as directory
from collaboration_api.problems import Problem
from collaboration_api.records.access import LedgerAccess, ledger_access
from collaboration_api.records.schemas import GrantCreate
from collaboration_api.supervision import audit
from features.records import RecordStore
from ledger import ids
from ledger.client import LedgerClient, LedgerError, NotAllowed
from regioncare.errors import UserError
from regioncare.settings import Settings

# app role -> the ledger's role vocabulary; other roles read no patient records
READERS = {"clinician": "physician", "specialist": "physician", "radiologist": "radiologist"}
GRANTORS = ("clinician", "admin")
GRANT_VIEWERS = (*READERS, "admin", "supervisor")
DEFAULT_GRANT_DAYS = 30
MAX_GRANT_DAYS = 366
# Accepting a referral opens standard-level records (not sensitive ones) for a bounded time.
REFERRAL_ROLE, REFERRAL_LEVEL, REFERRAL_PURPOSE, REFERRAL_DAYS = "physician", 1, "referral", 30


@dataclass(frozen=True)
class PatientKey:
    regional: str  # the platform's regional pseudonym
    key: bytes  # its on-chain pseudonym
    own_ids: tuple[str, ...]  # the caller's institution's local ids of the patient


def _has_store(settings: Settings, institution: str | None) -> bool:
    return (
        bool(institution)
        and (Path(settings.records_dir) / str(institution) / "records.sqlite").exists()
    )


def _store(settings: Settings, institution: str) -> RecordStore:
    return RecordStore.for_institution(Path(settings.records_dir), institution)


def resolve_patient(
    db: Session,
    settings: Settings,
    access: LedgerAccess,
    caller: Caller,
    patient_id: str,
    institution: str | None = None,
) -> PatientKey:
    """``patient_id``: a local id at ``institution`` when given, else at the caller's
    institution, or a regional pseudonym (what a referral carries). Local ids repeat
    across institutions, so the one named is asked first."""
    regional: str | None = None
    own = caller.institution_id
    for site in (institution, own) if institution else (own,):
        if regional is None and _has_store(settings, site):
            with _store(settings, str(site)) as store:
                found = store.find_patient(patient_id)
            regional = found["patient_id_regional"] if found else None
    if regional is None and _known_pseudonym(settings, access, patient_id):
        regional = patient_id
    if regional is None:
        audit.deny(
            db,
            caller,
            404,
            f"no patient {patient_id!r} known to the alliance",
            entity_type="Patient",
            entity_id=patient_id[:64],
            title="Unknown patient",
        )
    own_ids: tuple[str, ...] = ()
    if _has_store(settings, own):
        with _store(settings, own) as store:
            own_ids = tuple(store.local_ids(regional))
    return PatientKey(regional, ids.patient_key(regional), own_ids)


def _known_pseudonym(settings: Settings, access: LedgerAccess, value: str) -> bool:
    try:
        client = access.ledger.client
        with client.lock:
            if client.index.records_of(ids.patient_key(value)):
                return True
    except (Problem, UserError):
        pass
    for site in directory.institutions(settings):
        with _store(settings, site) as store:
            if store.local_ids(value):
                return True
    return False


# ------------------------------------------------------------------------------ reading


def read_records(
    *,
    db: Session,
    settings: Settings,
    access: LedgerAccess,
    caller: Caller,
    patient_id: str,
    institution: str | None,
    resource_type: str | None,
) -> dict[str, Any]:
    role = READERS.get(caller.role)
    if role is None:
        audit.deny(
            db,
            caller,
            403,
            f"a {caller.role} may not read patient records",
            entity_type="Patient",
            entity_id=patient_id[:64],
        )
    patient = resolve_patient(db, settings, access, caller, patient_id, institution)
    own = caller.institution_id
    try:
        client: LedgerClient | None = access.ledger.client
    except Problem:
        # own records stay readable without the ledger; others cannot even be located
        if not patient.own_ids or institution not in (None, own):
            raise
        client = None
    chain_rows: list[dict[str, Any]] = []
    if client is not None:
        with client.lock:
            chain_rows = client.index.records_of(patient.key)

    def wanted(holder: str | None, record_id: str) -> bool:
        return (
            bool(holder)
            and (institution is None or holder == institution)
            and (resource_type is None or record_id.split("/", 1)[0] == resource_type)
        )

    items: list[dict[str, Any]] = []
    if patient.own_ids and institution in (None, own):
        items += _own_records(db, settings, caller, patient, chain_rows, resource_type)
    cross = [
        r
        for r in chain_rows
        if r["holder_code"] != own and wanted(r["holder_code"], r["record_id"] or "")
    ]
    withheld: list[dict[str, Any]] = []
    if cross:
        got, withheld = _cross_records(db, settings, access, caller, role, patient, cross)
        items += got
    db.commit()  # the audit trail of every read and denial, before anything is returned
    if not items and any(w["reason"] == "no-grant" for w in withheld):
        holders = sorted({w["holder"] for w in withheld if w["reason"] == "no-grant"})
        raise Problem(
            403,
            "No grant",
            f"no active grant lets {own} ({role}) read this patient's records at "
            f"{', '.join(holders)}; the patient's home institution grants access",
            log_indices=[w["log_index"] for w in withheld],
        )
    return {"patient_ref": patient.regional, "items": items, "withheld": withheld}


def _own_records(
    db: Session,
    settings: Settings,
    caller: Caller,
    patient: PatientKey,
    chain_rows: list[dict[str, Any]],
    resource_type: str | None,
) -> list[dict[str, Any]]:
    own = caller.institution_id
    indexed = {r["record_id"]: r for r in chain_rows if r["holder_code"] == own}
    with _store(settings, own) as store:
        rows = store.patient_records(list(patient.own_ids))
    out = []
    for rid, rtype, body in rows:
        if resource_type is not None and rtype != resource_type:
            continue
        sha = ids.sha256(body)
        row = indexed.get(rid)
        out.append(
            {
                "record_id": rid,
                "resource_type": rtype,
                "holder": own,
                "resource": json.loads(body),
                "ledger": {
                    "verified": None if row is None else bytes(row["sha256"]) == sha,
                    "sha256": sha.hex(),
                    "log_index": None,
                    "version": None if row is None else row["version"],
                },
            }
        )
    audit.record(
        db,
        caller,
        action="R",
        subtype="record.read",
        entity_type="Patient",
        entity_id=patient.own_ids[0],
        patient_ref=patient.regional,
        entity_institution=own,
        detail=f"{len(out)} records held here",
    )
    return out


def _cross_records(
    db: Session,
    settings: Settings,
    access: LedgerAccess,
    caller: Caller,
    role: str,
    patient: PatientKey,
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    reader = caller.institution_id
    ledger = access.ledger
    grant = _active_grant(ledger.client, patient.key, reader, role)
    purpose = grant["purpose"] if grant else "treatment"
    grant_id = grant["id"] if grant else None
    items: list[dict[str, Any]] = []
    withheld: list[dict[str, Any]] = []
    denied: dict[str, list[int]] = defaultdict(list)
    stores: dict[str, RecordStore | None] = {}
    try:
        for row in rows:
            key, holder, rid = bytes(row["record_key"]), row["holder_code"], row["record_id"]
            rtype = rid.split("/", 1)[0]
            allowed = access.can_read(key, reader=reader, role=role)
            if not allowed:
                index = ledger.log.record(
                    reader=reader, role=role, record_key=key, allowed=False, purpose=purpose
                )
                denied[holder].append(index)
                withheld.append(
                    {
                        "record_id": rid,
                        "resource_type": rtype,
                        "holder": holder,
                        "reason": "no-grant",
                        "log_index": index,
                        "detail": f"no active grant to {reader} ({role}) covers this "
                        f"record (level {row['level']})",
                    }
                )
                continue
            if holder not in stores:
                stores[holder] = _store(settings, holder) if _has_store(settings, holder) else None
            store = stores[holder]
            body = store.get(rid) if store is not None else None
            expected = bytes(row["sha256"])
            index = ledger.log.record(
                reader=reader, role=role, record_key=key, allowed=True, purpose=purpose
            )
            actual = None if body is None else ids.sha256(body)
            if body is None or actual != expected:
                reason = "missing" if actual is None else "mismatch"
                detail = (
                    f"{holder} no longer holds the record"
                    if actual is None
                    else f"SHA-256 {actual.hex()[:16]}… at {holder} differs from the "
                    f"ledger's {expected.hex()[:16]}…"
                )
                withheld.append(
                    {
                        "record_id": rid,
                        "resource_type": rtype,
                        "holder": holder,
                        "reason": reason,
                        "log_index": index,
                        "detail": detail,
                        "sha256_expected": expected.hex(),
                        "sha256_actual": None if actual is None else actual.hex(),
                    }
                )
                audit.record(
                    db,
                    caller,
                    action="R",
                    subtype=f"record.{reason}",
                    entity_type=rtype,
                    entity_id=rid[:64],
                    patient_ref=patient.regional,
                    entity_institution=holder,
                    outcome="8",
                    grant_id=grant_id,
                    purpose=purpose,
                    detail=f"withheld: {detail}; access log #{index}",
                )
                continue
            items.append(
                {
                    "record_id": rid,
                    "resource_type": rtype,
                    "holder": holder,
                    "resource": json.loads(body),
                    "ledger": {
                        "verified": True,
                        "sha256": expected.hex(),
                        "log_index": index,
                        "version": row["version"],
                        "grant_id": grant_id,
                        "purpose": purpose,
                    },
                }
            )
            audit.record(
                db,
                caller,
                action="R",
                subtype="record.read",
                entity_type=rtype,
                entity_id=rid[:64],
                patient_ref=patient.regional,
                entity_institution=holder,
                grant_id=grant_id,
                purpose=purpose,
                detail=f"ledger-verified sha256 {expected.hex()[:16]}…, access log #{index}",
            )
    finally:
        for opened in stores.values():
            if opened is not None:
                opened.close()
    for holder, indices in denied.items():
        audit.record(
            db,
            caller,
            action="R",
            subtype="access.denied",
            entity_type="Patient",
            patient_ref=patient.regional,
            entity_institution=holder,
            outcome="4",
            grant_id=grant_id,
            purpose=purpose,
            detail=f"403: no active grant to {reader} ({role}) covers {len(indices)} "
            f"records at {holder}; access log #{', #'.join(map(str, indices))}",
        )
    return items, withheld


def _active_grant(
    client: LedgerClient, patient: bytes, grantee: str, role: str
) -> dict[str, Any] | None:
    now = time.time()
    for g in client.grants_of(patient):
        if g["grantee"] == grantee and g["role"] == role and g["active"] and g["expiry"] > now:
            return g
    return None


# ------------------------------------------------------------------------------- grants


def _grant_read(g: dict[str, Any], patient: PatientKey, home: str | None) -> dict[str, Any]:
    return {
        "id": g["id"],
        "patient_ref": patient.regional,
        "home_institution_id": home,
        "grantee_institution_id": g["grantee"],
        "role": g["role"],
        "max_level": g["max_level"],
        "purpose": g["purpose"],
        "expires_at": datetime.fromtimestamp(g["expiry"], UTC),
        "active": g["active"],
        "consent_sha256": g["consent"],
    }


def list_grants(
    *, db: Session, settings: Settings, access: LedgerAccess, caller: Caller, patient_id: str
) -> list[dict[str, Any]]:
    """The home institution sees every grant of its patient; others only their own."""
    if caller.role not in GRANT_VIEWERS:
        audit.deny(
            db,
            caller,
            403,
            f"a {caller.role} may not see access grants",
            entity_type="Consent",
            entity_id=patient_id[:64],
        )
    patient = resolve_patient(db, settings, access, caller, patient_id)
    client = access.ledger.client
    home = client.home_code(patient.key)
    grants = client.grants_of(patient.key)
    if home != caller.institution_id:
        grants = [g for g in grants if g["grantee"] == caller.institution_id]
    audit.record(
        db,
        caller,
        action="R",
        subtype="grant.list",
        entity_type="Consent",
        patient_ref=patient.regional,
        entity_institution=home,
        detail=f"{len(grants)} grants listed",
    )
    db.commit()
    return [_grant_read(g, patient, home) for g in grants]


def _home_for_granting(
    db: Session, client: LedgerClient, caller: Caller, patient: PatientKey
) -> str:
    """The caller's institution if it is the patient's home; a patient without a home yet
    is claimed by the institution that holds them and grants first."""
    home = client.home_code(patient.key)
    if home is None and patient.own_ids:
        client.add_institution(caller.institution_id)
        client.set_home(caller.institution_id, patient.key)
        home = caller.institution_id
    if home != caller.institution_id:
        audit.deny(
            db,
            caller,
            403,
            f"only the patient's home institution ({home or 'none yet'}) grants or revokes access",
            entity_type="Consent",
            patient_ref=patient.regional,
            entity_institution=home,
            action="C",
        )
    return home


def create_grant(
    *,
    db: Session,
    settings: Settings,
    access: LedgerAccess,
    caller: Caller,
    patient_id: str,
    data: GrantCreate,
) -> dict[str, Any]:
    if caller.role not in GRANTORS:
        audit.deny(
            db,
            caller,
            403,
            f"a {caller.role} may not grant access to records",
            entity_type="Consent",
            entity_id=patient_id[:64],
            action="C",
        )
    patient = resolve_patient(db, settings, access, caller, patient_id)
    grantee = data.grantee_institution_id
    if grantee == caller.institution_id:
        raise Problem(
            422, "Own institution", "an institution reads its own records without a grant"
        )
    if grantee not in directory.institutions(settings):
        raise Problem(422, "Unknown institution", f"no institution {grantee!r} in the alliance")
    now = datetime.now(UTC)
    expires = data.expires_at or now + timedelta(days=DEFAULT_GRANT_DAYS)
    if not now < expires <= now + timedelta(days=MAX_GRANT_DAYS):
        raise Problem(
            422, "Bad expiry", f"expires_at must lie within the next {MAX_GRANT_DAYS} days"
        )
    client = access.ledger.client
    home = _home_for_granting(db, client, caller, patient)
    try:
        client.add_institution(grantee)
        client.grant(
            home,
            patient=patient.key,
            grantee=grantee,
            role=data.role,
            max_level=data.max_level,
            purpose=data.purpose,
            expiry=int(expires.timestamp()),
            consent=ids.consent_hash(data.consent_reference),
        )
    except (NotAllowed, LedgerError) as exc:
        raise Problem(409, "Grant refused", f"the ledger refused the grant: {exc}") from None
    access.invalidate()
    grant_id = ids.grant_id(patient.key, grantee, ids.ROLES[data.role])
    g = next(g for g in client.grants_of(patient.key) if g["id"] == grant_id)
    audit.record(
        db,
        caller,
        action="C",
        subtype="grant.create",
        entity_type="Consent",
        entity_id=grant_id,
        patient_ref=patient.regional,
        entity_institution=grantee,
        grant_id=grant_id,
        purpose=data.purpose,
        detail=f"{grantee} {data.role} up to level {data.max_level} until "
        f"{expires.isoformat(timespec='seconds')}",
    )
    db.commit()
    return _grant_read(g, patient, home)


def revoke_grant(
    *,
    db: Session,
    settings: Settings,
    access: LedgerAccess,
    caller: Caller,
    patient_id: str,
    grant_id: str,
    consent_reference: str | None,
) -> dict[str, Any]:
    if caller.role not in GRANTORS:
        audit.deny(
            db,
            caller,
            403,
            f"a {caller.role} may not revoke access to records",
            entity_type="Consent",
            entity_id=grant_id[:64],
            action="D",
        )
    patient = resolve_patient(db, settings, access, caller, patient_id)
    client = access.ledger.client
    g = next((g for g in client.grants_of(patient.key) if g["id"] == grant_id), None)
    if g is None:
        audit.deny(
            db,
            caller,
            404,
            f"no grant {grant_id} for this patient",
            entity_type="Consent",
            entity_id=grant_id[:64],
            action="D",
            patient_ref=patient.regional,
        )
    home = _home_for_granting(db, client, caller, patient)
    reference = consent_reference or f"revoked {grant_id} by {caller.username} at {time.time()}"
    try:
        client.revoke(
            home,
            patient=patient.key,
            grantee=g["grantee"],
            role=g["role"],
            consent=ids.consent_hash(reference),
        )
    except (NotAllowed, LedgerError) as exc:
        raise Problem(409, "Revocation refused", f"the ledger refused: {exc}") from None
    access.invalidate()
    g = next(x for x in client.grants_of(patient.key) if x["id"] == grant_id)
    audit.record(
        db,
        caller,
        action="D",
        subtype="grant.revoke",
        entity_type="Consent",
        entity_id=grant_id,
        patient_ref=patient.regional,
        entity_institution=g["grantee"],
        grant_id=grant_id,
        purpose=g["purpose"],
        detail=f"{g['grantee']} {g['role']} revoked",
    )
    db.commit()
    return _grant_read(g, patient, home)


def grant_for_referral(*, db: Session, settings: Settings, caller: Caller, referral: Any) -> None:
    """On acceptance: the origin, as the patient's home, grants the receiving institution
    read access for the referral (standard level, 30 days). The origin's key signs (on a
    consortium, the origin's node does so when it sees the acceptance). A failure is
    audited and never blocks the acceptance."""
    origin, target = referral.institution_id, referral.target_institution_id
    if not target or target == origin:
        return
    key = ids.patient_key(referral.patient_ref)
    grant_id = ids.grant_id(key, target, ids.ROLES[REFERRAL_ROLE])
    try:
        access = ledger_access(settings)
        client = access.ledger.client
        home = client.home_code(key)
        if home is None:  # the origin holds the patient: it claims the home
            client.add_institution(origin)
            client.set_home(origin, key)
            home = origin
        if home != origin:
            raise UserError(f"the patient's home is {home}; only the home grants access")
        expiry = int(time.time()) + REFERRAL_DAYS * 86400
        current = next((g for g in client.grants_of(key) if g["id"] == grant_id), None)
        if (
            current
            and current["active"]
            and current["expiry"] >= expiry
            and (current["max_level"] >= REFERRAL_LEVEL)
        ):
            return  # a wider grant exists already: keep it
        client.add_institution(target)
        client.grant(
            origin,
            patient=key,
            grantee=target,
            role=REFERRAL_ROLE,
            max_level=REFERRAL_LEVEL,
            purpose=REFERRAL_PURPOSE,
            expiry=expiry,
            consent=ids.consent_hash(f"referral:{referral.id}"),
        )
        access.invalidate()
    except (Problem, UserError, LedgerError) as exc:
        detail = exc.detail if isinstance(exc, Problem) else str(exc)
        audit.record(
            db,
            caller,
            action="C",
            subtype="referral.grant",
            entity_type="Consent",
            entity_id=grant_id,
            patient_ref=referral.patient_ref,
            entity_institution=target,
            outcome="4",
            purpose=REFERRAL_PURPOSE,
            detail=f"no grant issued for referral {referral.id}: {detail}",
        )
        return
    audit.record(
        db,
        caller,
        action="C",
        subtype="referral.grant",
        entity_type="Consent",
        entity_id=grant_id,
        patient_ref=referral.patient_ref,
        entity_institution=target,
        grant_id=grant_id,
        purpose=REFERRAL_PURPOSE,
        detail=f"{origin} grants {target} ({REFERRAL_ROLE}, level "
        f"{REFERRAL_LEVEL}) for referral {referral.id} until "
        f"{datetime.fromtimestamp(expiry, UTC).isoformat(timespec='seconds')}",
    )
