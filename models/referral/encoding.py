"""Turn (referral, candidates) into tensors the ranker reads.

The same code runs in training (rows from Feast's historical join) and in serving (rows
from the online store and the candidate cache), so the model sees the same features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

URGENCIES = ("routine", "urgent", "emergency")
EARTH_RADIUS_KM = 6371.0
MAX_WAIT_DAYS = 60.0
CONSTANT_SCALE = 1e9  # the std given to features that were constant in training

# Per-(referral, candidate) numeric inputs, in order. Names are what explanations refer to.
NUMERIC = (
    "distance_km",
    "same_region",
    "tier",
    "title_rank",
    "experience_years",
    "log_referrals_365d",
    "acceptance_rate",
    "good_outcome_rate",
    "mean_wait_days",
    "days_to_next_slot",
    "weekly_capacity",
    "n_languages",
    "age_years",
    "sex_male",
    "n_chronic",
    "comorbidity_index",
    "prior_referrals",
    "urgent",
    "emergency",
    "origin_tier_gap",
)

CANDIDATE_COLUMNS = (
    "practitioner_id",
    "institution_id",
    "specialty",
    "sub_specialty",
    "tier",
    "title_rank",
    "experience_years",
    "region",
    "lat",
    "lon",
    "n_languages",
    "referrals_received_365d",
    "acceptance_rate",
    "good_outcome_rate",
    "mean_wait_days",
    "weekly_capacity",
    "next_free_slot_days",
)


def icd10_chapter_block(code: str) -> tuple[str, str]:
    """Chapter letter-range key and 3-character block of an ICD-10 code ("I21.4" -> I, I21)."""
    code = (code or "").strip().upper()
    block = code[:3]
    return (block[:1] or "?"), (block or "?")


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=np.float64))
                              for v in (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass
class FeatureSpec:
    """Vocabularies, region centroids and normalisation, fitted on training data only."""

    letters: list[str]
    blocks: list[str]
    specialties: list[str]
    sub_specialties: list[str]
    regions: dict[str, tuple[float, float]]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    def index(self) -> None:
        # Index 0 is "unknown" in every vocabulary, so unseen codes still encode.
        self._letter = {v: i + 1 for i, v in enumerate(self.letters)}
        self._block = {v: i + 1 for i, v in enumerate(self.blocks)}
        self._spec = {v: i + 1 for i, v in enumerate(self.specialties)}
        self._sub = {v: i + 1 for i, v in enumerate(self.sub_specialties)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        data = dict(data)
        data["regions"] = {k: tuple(v) for k, v in data["regions"].items()}
        spec = cls(**data)
        spec.index()
        return spec

    @property
    def sizes(self) -> dict[str, int]:
        return {"letters": len(self.letters) + 1, "blocks": len(self.blocks) + 1,
                "specialties": len(self.specialties) + 1,
                "sub_specialties": len(self.sub_specialties) + 1}


@dataclass
class CandidateTable:
    """Candidate practitioners as column arrays (the serving-side cache holds one)."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["practitioner_id"])

    def take(self, idx: np.ndarray) -> CandidateTable:
        return CandidateTable({k: v[idx] for k, v in self.columns.items()})

    @classmethod
    def from_records(cls, rows: dict[str, list[Any]]) -> CandidateTable:
        cols: dict[str, np.ndarray] = {}
        for name in CANDIDATE_COLUMNS:
            values = rows[name]
            if name in ("practitioner_id", "institution_id", "specialty", "sub_specialty",
                        "region"):
                cols[name] = np.asarray([str(v) if v is not None else "" for v in values])
            else:
                cols[name] = np.nan_to_num(
                    np.asarray([np.nan if v is None else v for v in values], dtype=np.float64),
                    nan=_DEFAULTS.get(name, 0.0),
                )
        return cls(cols)


# Neutral values for candidates with no history yet (a new practitioner has no stats).
_DEFAULTS = {"acceptance_rate": 0.7, "good_outcome_rate": 0.7, "mean_wait_days": 14.0,
             "next_free_slot_days": MAX_WAIT_DAYS, "tier": 2.0, "title_rank": 2.0}


@dataclass
class EncodedBatch:
    query: torch.Tensor  # [B, 2] long: ICD-10 letter, block
    cand: torch.Tensor  # [B, C, 2] long: specialty, sub-specialty
    numeric: torch.Tensor  # [B, C, F] float, normalised
    raw: np.ndarray  # [B, C, F] before normalisation, for explanations


def numeric_matrix(
    spec: FeatureSpec, patient: dict[str, Any], request: dict[str, Any], cands: CandidateTable
) -> np.ndarray:
    """Raw numeric features of one referral against each candidate: [C, F]."""
    c = cands.columns
    n = len(cands)
    home = str(patient.get("home_region") or "")
    lat, lon = spec.regions.get(home, (float(np.mean(c["lat"])), float(np.mean(c["lon"]))))
    distance = haversine_km(lat, lon, c["lat"], c["lon"])
    urgency = request.get("urgency", "routine")
    origin_tier = float(request.get("origin_tier") or 1)

    def scalar(name: str, default: float = 0.0) -> np.ndarray:
        value = patient.get(name)
        v = default if value is None or (isinstance(value, float) and math.isnan(value)) else value
        return np.full(n, float(v))

    cols = [
        distance,
        (c["region"] == home).astype(np.float64),
        c["tier"],
        c["title_rank"],
        c["experience_years"],
        np.log1p(c["referrals_received_365d"]),
        c["acceptance_rate"],
        c["good_outcome_rate"],
        c["mean_wait_days"],
        np.clip(c["next_free_slot_days"], 0.0, MAX_WAIT_DAYS),
        c["weekly_capacity"],
        c["n_languages"],
        scalar("age_years", 50.0),
        np.full(n, 1.0 if patient.get("sex") == "male" else 0.0),
        scalar("n_chronic"),
        scalar("comorbidity_index"),
        scalar("prior_referrals"),
        np.full(n, 1.0 if urgency == "urgent" else 0.0),
        np.full(n, 1.0 if urgency == "emergency" else 0.0),
        c["tier"] - origin_tier,
    ]
    return np.stack(cols, axis=1).astype(np.float32)


def encode(
    spec: FeatureSpec,
    patients: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    cands: list[CandidateTable],
) -> EncodedBatch:
    """Encode B referrals, each with its own candidate table of equal length C."""
    raw = np.stack([numeric_matrix(spec, p, r, c) for p, r, c in zip(patients, requests, cands,
                                                                     strict=True)])
    query = np.zeros((len(requests), 2), dtype=np.int64)
    for i, r in enumerate(requests):
        letter, block = icd10_chapter_block(r["diagnosis_code"])
        query[i] = (spec._letter.get(letter, 0), spec._block.get(block, 0))
    cand = np.stack([
        np.stack([np.fromiter((spec._spec.get(s, 0) for s in c.columns["specialty"]), np.int64,
                              len(c)),
                  np.fromiter((spec._sub.get(s, 0) for s in c.columns["sub_specialty"]),
                              np.int64, len(c))], axis=1)
        for c in cands
    ])
    return EncodedBatch(torch.from_numpy(query), torch.from_numpy(cand),
                        torch.from_numpy(normalise(spec, raw)), raw)


def normalise(spec: FeatureSpec, raw: np.ndarray) -> np.ndarray:
    if not spec.mean:  # not fitted yet: fitting itself encodes a sample first
        return raw.astype(np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return ((raw - mean) / std).astype(np.float32)


def fit_normalisation(spec: FeatureSpec, raw: np.ndarray) -> None:
    flat = raw.reshape(-1, raw.shape[-1]).astype(np.float64)
    spec.mean = flat.mean(axis=0).round(6).tolist()
    std = flat.std(axis=0)
    # A feature that never varied in training taught the model nothing; if it varies in
    # serving (e.g. next free slot, known only for the present) it must not move scores, so
    # it is scaled to ~0 rather than extrapolated.
    spec.std = np.where(std < 1e-3, CONSTANT_SCALE, std).round(6).tolist()
