"""Regional pseudonymous patient identity (the master patient index seam).

``"p_" + HMAC-SHA256(pseudonym_key, normalised resident ID)[:16 hex]`` when a valid
resident ID is present. Otherwise a deterministic fallback on (normalised name, birth
date, sex), also keyed. Never a plain hash: resident IDs have ~10^9 plausible values and a
plain hash is reversed by enumeration.

Probabilistic linking (Fellegi-Sunter over name/pinyin, birth date with transpositions,
sex, phone, address) is a later issue: it plugs in as another ``PatientLinker``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Protocol

from pydantic import SecretStr

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"


def _key_bytes(key: SecretStr | str | bytes) -> bytes:
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return key if isinstance(key, bytes) else key.encode("utf-8")


def keyed_hash(key: SecretStr | str | bytes, message: str) -> str:
    return hmac.new(_key_bytes(key), message.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_resident_id(raw: str | None) -> str | None:
    """18-digit ID with a valid GB 11643 check digit, upper-case X; 15-digit first-
    generation IDs are upgraded (insert '19', add the check digit); otherwise None."""
    if not raw:
        return None
    s = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", str(raw))).upper()
    if len(s) == 15 and s.isdigit():
        s = s[:6] + "19" + s[6:]
        s = s + _ID_CHECK[sum(int(c) * w for c, w in zip(s, _ID_WEIGHTS, strict=True)) % 11]
    if len(s) != 18 or not s[:17].isdigit():
        return None
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True)) % 11]
    return s if s[17] == check else None


def normalise_name(name: str | None) -> str:
    """NFKC, no spaces or middle dots, lower case (for pinyin)."""
    s = unicodedata.normalize("NFKC", name or "")
    return re.sub(r"[\s·•.\-]", "", s).lower()


def regional_patient_id(key: SecretStr | str | bytes, *, resident_id: str | None,
                        name: str | None = None, birth_date: str | None = None,
                        gender: str | None = None) -> str:
    rid = normalise_resident_id(resident_id)
    if rid:
        return "p_" + keyed_hash(key, rid)[:16]
    msg = "\x1f".join(["fallback-v1", normalise_name(name), birth_date or "",
                       gender or "unknown"])
    return "p_" + keyed_hash(key, msg)[:16]


class PatientLinker(Protocol):
    """Maps a patient's identifying attributes to a regional pseudonym."""

    def link(self, *, resident_id: str | None, name: str | None, birth_date: str | None,
             gender: str | None) -> str: ...


class DeterministicLinker:
    """Exact resident ID, else exact (name, birth date, sex). The default linker."""

    def __init__(self, key: SecretStr | str | bytes) -> None:
        self._key = key

    def link(self, *, resident_id: str | None, name: str | None, birth_date: str | None,
             gender: str | None) -> str:
        return regional_patient_id(self._key, resident_id=resident_id, name=name,
                                   birth_date=birth_date, gender=gender)


def link_quality(records_dir, identities_csv) -> dict[str, float | int]:
    """Pairwise precision/recall of the pseudonyms in the record stores against a ground
    truth ``identities.csv`` (institution, local_patient_id, person_id) - for the ingest
    benchmark and for comparing linkers."""
    import json
    from pathlib import Path

    import pandas as pd

    from features.records import RecordStore, list_stores

    rows = []
    for inst, path in list_stores(Path(records_dir)):
        with RecordStore(path) as st:
            for _, _, body in st.iter_records("Patient"):
                d = json.loads(body)
                rows.append((inst, d["id"], d["patient_id_regional"]))
    got = pd.DataFrame(rows, columns=["institution", "local_patient_id", "pseudo"])
    truth = pd.read_csv(identities_csv, dtype=str)
    m = got.merge(truth, on=["institution", "local_patient_id"])

    def pairs(sizes: pd.Series) -> int:
        return int((sizes * (sizes - 1) // 2).sum())

    predicted = pairs(m.groupby("pseudo").size())
    actual = pairs(m.groupby("person_id").size())
    true_pos = pairs(m.groupby(["pseudo", "person_id"]).size())
    return {"records": len(m), "persons": int(m["person_id"].nunique()),
            "pseudonyms": int(m["pseudo"].nunique()),
            "link_precision": true_pos / predicted if predicted else 1.0,
            "link_recall": true_pos / actual if actual else 1.0}
