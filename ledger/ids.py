"""What may go on chain: pseudonyms, hashes and opaque ids, never a raw identifier.

Every value the client writes passes through these functions, which refuse anything that
is not already a 32-byte pseudonym or hash; local record ids are hashed with their holder
into an opaque 32-byte key before they leave the process.
"""

from __future__ import annotations

import hashlib
import re

from regioncare.errors import UserError

_HEX32 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

# Coded vocabularies, so that no free text reaches the chain.
RECORD_CLASSES: dict[str, int] = {
    name: i
    for i, name in enumerate(
        (
            "Other",
            "Patient",
            "Encounter",
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
            "Procedure",
            "DiagnosticReport",
            "ImagingStudy",
            "ServiceRequest",
            "AllergyIntolerance",
            "Immunization",
            "DocumentReference",
            "CarePlan",
            "Appointment",
            "Task",
            "Consent",
            "Specimen",
            "Composition",
        )
    )
}
ROLES: dict[str, int] = {
    name: i
    for i, name in enumerate(
        (
            "physician",
            "nurse",
            "pharmacist",
            "technician",
            "radiologist",
            "administrator",
            "researcher",
            "auditor",
        ),
        start=1,
    )
}
PURPOSES: dict[str, int] = {
    name: i
    for i, name in enumerate(
        (
            "treatment",
            "referral",
            "consult",
            "emergency",
            "imaging",
            "joint_clinic",
            "internet_clinic",
            "teaching",
            "supervision",
            "research",
            "audit",
        ),
        start=1,
    )
}
# Sensitivity levels: 0 routine, 1 standard, 2 sensitive (mental health, HIV, genetics...),
# 3 restricted (sealed by order). A grant's max_level is the highest level it opens.
MAX_LEVEL = 3


def bytes32(value: bytes | str, what: str) -> bytes:
    """A 32-byte value given as bytes or 64 hex digits; anything else is refused."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise UserError(f"{what} must be 32 bytes, got {len(value)}")
        return bytes(value)
    if isinstance(value, str) and _HEX32.match(value):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    raise UserError(f"{what} must be a 32-byte pseudonym or hash in hex, not a raw identifier")


def pseudonym(value: bytes | str) -> bytes:
    return bytes32(value, "patient pseudonym")


def digest(value: bytes | str) -> bytes:
    return bytes32(value, "sha256")


def record_key(holder_code: str, record_id: str) -> bytes:
    """The opaque on-chain key of a holder's local record id."""
    if not holder_code or not record_id:
        raise UserError("holder and record id must not be empty")
    material = b"regioncare/record\0" + holder_code.encode() + b"\0" + record_id.encode()
    return hashlib.sha256(material).digest()


def institution_code(code: str) -> bytes:
    raw = code.encode("ascii", "strict") if code.isascii() else b""
    if not raw or len(raw) > 32 or not re.fullmatch(rb"[A-Za-z0-9_.-]+", raw):
        raise UserError(f"institution code must be 1-32 ASCII letters/digits/._-: {code!r}")
    return raw.ljust(32, b"\0")


def coded(table: dict[str, int], value: str | int, what: str, *, limit: int = 255) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= limit:
            return value
        raise UserError(f"{what} out of range: {value}")
    if isinstance(value, str) and value in table:
        return table[value]
    raise UserError(f"unknown {what} {value!r}; one of {', '.join(table)}")


def level(value: int) -> int:
    if isinstance(value, int) and 0 <= value <= MAX_LEVEL:
        return value
    raise UserError(f"sensitivity level must be 0..{MAX_LEVEL}, got {value!r}")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def patient_key(regional_id: str) -> bytes:
    """The on-chain pseudonym of a patient: a domain-tagged hash of the platform's regional
    pseudonym (itself a keyed HMAC), so every deployment puts 32 uniform bytes on chain."""
    if not regional_id:
        raise UserError("a patient's regional pseudonym must not be empty")
    return hashlib.sha256(b"regioncare/patient\0" + regional_id.encode()).digest()


def consent_hash(reference: str) -> bytes:
    """The hash of a consent document's reference: the reference itself stays off chain."""
    if not reference or not reference.strip():
        raise UserError("a consent reference is required")
    return hashlib.sha256(b"regioncare/consent\0" + reference.strip().encode()).digest()


def grant_id(patient: bytes, grantee_code: str, role: int) -> str:
    """A short opaque id of the grant slot (patient, grantee, role): the contract keeps one
    grant per slot, re-granted or revoked in place."""
    material = b"regioncare/grant\0" + pseudonym(patient) + grantee_code.encode() + bytes([role])
    return hashlib.sha256(material).hexdigest()[:24]


def name_of(table: dict[str, int], code: int) -> str:
    """The vocabulary name of a code (the code as text when unknown)."""
    for name, value in table.items():
        if value == code:
            return name
    return str(code)
