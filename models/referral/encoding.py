"""Turn (referral, candidates) into tensors the ranker reads.

The same code runs in training (column arrays of the whole referral set, gathered per
batch) and in serving (one referral from the online store against the candidate cache):
``encode_arrays`` is the one place where features are computed, vectorised over any number
of referrals and candidates, so the model sees the same features in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

URGENCIES = ("routine", "urgent", "emergency")
EARTH_RADIUS_KM = 6371.0
MAX_WAIT_DAYS = 60.0
CONSTANT_SCALE = 1e9  # the std given to features that were constant in training
COMORBIDITY_FLAGS = ("has_hypertension", "has_diabetes", "has_copd", "has_chd", "has_ckd")

# Per-(referral, candidate) numeric inputs, in order. Names are what explanations refer to.
# Versions trained before a feature existed keep their own list (FeatureSpec.numeric).
NUMERIC_V1 = (
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
NUMERIC = (
    *NUMERIC_V1,
    # Continuity of care: the candidate accepted an earlier referral of this patient.
    "seen_before",
    # Chronic groups, so the model can weigh candidates' track record with comorbid patients.
    *COMORBIDITY_FLAGS,
    # Waiting time weighs more when the referral is urgent (wait x urgency interactions).
    "urgent_wait_days",
    # The clinicians' rule as a prior: the specialty of the diagnosis's ICD-10 chapter
    # (models.baselines.rules). The learned diagnosis x specialty fit refines it, and it
    # carries over to diagnoses seldom seen in training.
    "chapter_specialty",
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
_TEXT_COLUMNS = ("practitioner_id", "institution_id", "specialty", "sub_specialty", "region")


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
    # The numeric features this version reads, in order (older versions: NUMERIC_V1).
    numeric: list[str] = field(default_factory=lambda: list(NUMERIC))
    # Practitioners seen in training; others (e.g. another region) are index 0, "unknown".
    practitioners: list[str] = field(default_factory=list)

    def index(self) -> None:
        # Index 0 is "unknown" in every vocabulary, so unseen codes still encode.
        self._letter = {v: i + 1 for i, v in enumerate(self.letters)}
        self._block = {v: i + 1 for i, v in enumerate(self.blocks)}
        self._spec = {v: i + 1 for i, v in enumerate(self.specialties)}
        self._sub = {v: i + 1 for i, v in enumerate(self.sub_specialties)}
        self._prac = {v: i + 1 for i, v in enumerate(self.practitioners)}
        self._region = {v: i for i, v in enumerate(sorted(self.regions))}
        self._columns = np.asarray([NUMERIC.index(n) for n in self.numeric])
        from models.baselines.rules import CHAPTER_SPECIALTIES  # the rule imports this module

        # [letter, specialty] -> 1 where the chapter rule names that specialty.
        self._chapter = np.zeros((len(self.letters) + 1, len(self.specialties) + 1),
                                 dtype=np.float32)
        for letter, k in self._letter.items():
            for specialty in CHAPTER_SPECIALTIES.get(letter, ()):
                if specialty in self._spec:
                    self._chapter[k, self._spec[specialty]] = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        data = dict(data)
        data["regions"] = {k: tuple(v) for k, v in data["regions"].items()}
        data.setdefault("numeric", list(NUMERIC_V1))  # saved before the list was stored
        spec = cls(**data)
        spec.index()
        return spec

    @property
    def sizes(self) -> dict[str, int]:
        return {"letters": len(self.letters) + 1, "blocks": len(self.blocks) + 1,
                "specialties": len(self.specialties) + 1,
                "sub_specialties": len(self.sub_specialties) + 1,
                "practitioners": len(self.practitioners) + 1 if self.practitioners else 0}


@dataclass
class CandidateTable:
    """Candidate practitioners as column arrays (the serving-side cache holds one)."""

    columns: dict[str, np.ndarray]
    # The encoded columns and the spec they were encoded for (the serving cache reuses them).
    _encoded: tuple[FeatureSpec, dict[str, np.ndarray]] | None = field(
        default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.columns["practitioner_id"])

    def take(self, idx: np.ndarray) -> CandidateTable:
        return CandidateTable({k: v[idx] for k, v in self.columns.items()})

    @classmethod
    def from_records(cls, rows: Mapping[str, Sequence[Any]]) -> CandidateTable:
        cols: dict[str, np.ndarray] = {}
        for name in CANDIDATE_COLUMNS:
            values = rows[name]
            if name in _TEXT_COLUMNS:
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


def candidate_arrays(spec: FeatureSpec, cands: CandidateTable) -> dict[str, np.ndarray]:
    """The candidate side of the features, [C] arrays (floats, region and vocabulary ids),
    and ``region_km`` [regions, C]."""
    if cands._encoded is not None and cands._encoded[0] is spec:
        return cands._encoded[1]
    c = cands.columns
    out: dict[str, Any] = {
        name: np.asarray(c[name], dtype=np.float64)
        for name in ("tier", "title_rank", "experience_years", "lat", "lon", "n_languages",
                     "acceptance_rate", "good_outcome_rate", "mean_wait_days",
                     "weekly_capacity")}
    out["log_referrals_365d"] = np.log1p(np.asarray(c["referrals_received_365d"], np.float64))
    out["days_to_next_slot"] = np.clip(np.asarray(c["next_free_slot_days"], np.float64), 0.0,
                                       MAX_WAIT_DAYS)
    out["region"] = np.fromiter((spec._region.get(str(r), -2) for r in c["region"]),
                                np.int64, len(cands))
    out["codes"] = np.stack([
        np.fromiter((spec._spec.get(s, 0) for s in c["specialty"]), np.int64, len(cands)),
        np.fromiter((spec._sub.get(s, 0) for s in c["sub_specialty"]), np.int64, len(cands)),
        np.fromiter((spec._prac.get(s, 0) for s in c["practitioner_id"]), np.int64,
                    len(cands)),
    ], axis=1) if len(cands) else np.zeros((0, 3), np.int64)
    # Distance from each region's centroid (where patients are placed) to each candidate:
    # serving then looks distances up instead of computing 2,000 haversines per request.
    centroids = np.asarray([spec.regions[r] for r in sorted(spec.regions)], np.float64)
    out["region_km"] = haversine_km(centroids[:, :1], centroids[:, 1:], out["lat"][None],
                                    out["lon"][None]) if len(centroids) else None
    cands._encoded = (spec, out)
    return out


def _floats(values: Sequence[Any], default: float) -> np.ndarray:
    """Numbers with None/NaN/NA as ``default``; a numeric column converts without a loop."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # None or a pandas NA among the values
        arr = np.asarray([_number(v) for v in values], dtype=np.float64)
    return np.where(np.isnan(arr), default, arr).reshape(-1)


def _number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def query_arrays(spec: FeatureSpec, patients: Mapping[str, Sequence[Any]],
                 requests: Mapping[str, Sequence[Any]], n: int) -> dict[str, np.ndarray]:
    """The referral side of the features for ``n`` referrals given as columns (a DataFrame or
    a dict of lists; missing columns take neutral defaults). Identifiers are never read."""

    def col(frame: Mapping[str, Sequence[Any]], name: str) -> Sequence[Any]:
        return frame[name] if name in frame else [None] * n

    home = [str(h) if h is not None else "" for h in col(patients, "home_region")]
    centroid = [spec.regions.get(h, (np.nan, np.nan)) for h in home]
    urgency = np.asarray([str(u) if u is not None else "routine"
                          for u in col(requests, "urgency")])
    letters, blocks = [], []
    for code in col(requests, "diagnosis_code"):
        letter, block = icd10_chapter_block(str(code) if code is not None else "")
        letters.append(spec._letter.get(letter, 0))
        blocks.append(spec._block.get(block, 0))
    out = {
        "lat": np.asarray([c[0] for c in centroid], dtype=np.float64).reshape(n),
        "lon": np.asarray([c[1] for c in centroid], dtype=np.float64).reshape(n),
        "region": np.asarray([spec._region.get(h, -1) for h in home], dtype=np.int64),
        "age_years": _floats(col(patients, "age_years"), 50.0),
        "sex_male": np.asarray([1.0 if s == "male" else 0.0 for s in col(patients, "sex")]),
        "n_chronic": _floats(col(patients, "n_chronic"), 0.0),
        "comorbidity_index": _floats(col(patients, "comorbidity_index"), 0.0),
        "prior_referrals": _floats(col(patients, "prior_referrals"), 0.0),
        "urgent": (urgency == "urgent").astype(np.float64),
        "emergency": (urgency == "emergency").astype(np.float64),
        "origin_tier": _floats(col(requests, "origin_tier"), 1.0),
        "query": np.stack([np.asarray(letters, np.int64), np.asarray(blocks, np.int64)],
                          axis=1).reshape(n, 2),
    }
    for flag in COMORBIDITY_FLAGS:
        out[flag] = _floats(col(patients, flag), 0.0)
    return out


def seen_positions(patients: Sequence[Mapping[str, Any]], cands: Sequence[CandidateTable]
                   ) -> np.ndarray:
    """[B, S] positions in each referral's candidate table of the specialists who accepted
    the patient's earlier referrals (``seen_practitioners``: ids or a "|"-joined string);
    -1 pads."""
    found: list[list[int]] = []
    for p, c in zip(patients, cands, strict=True):
        seen = p.get("seen_practitioners") or []
        if isinstance(seen, str):
            seen = [s for s in seen.split("|") if s]
        ids = c.columns["practitioner_id"]
        found.append([int(i) for i in np.flatnonzero(np.isin(ids, list(seen)))] if len(seen)
                     else [])
    width = max([1, *(len(f) for f in found)])
    out = np.full((len(found), width), -1, dtype=np.int64)
    for i, f in enumerate(found):
        out[i, :len(f)] = f
    return out


@dataclass
class EncodedBatch:
    query: torch.Tensor  # [B, 2] long: ICD-10 letter, block
    cand: torch.Tensor  # [B, C, 2 or 3] long: specialty, sub-specialty(, practitioner)
    numeric: torch.Tensor  # [B, C, F] float, normalised
    raw: np.ndarray  # [B, C, F] before normalisation, for explanations
    names: tuple[str, ...] = NUMERIC  # the F feature names, in order


def raw_features(spec: FeatureSpec, q: Mapping[str, np.ndarray], c: Mapping[str, np.ndarray],
                 seen: np.ndarray, cand_pos: np.ndarray, distance: np.ndarray | None = None
                 ) -> np.ndarray:
    """All NUMERIC features, [B, C, len(NUMERIC)] float32, vectorised.

    ``q`` holds [B] referral arrays, ``c`` candidate arrays broadcastable to [B, C];
    ``cand_pos`` [B or 1, C] identifies candidates and ``seen`` [B, S] the ones that saw
    the patient before (same numbering, -1 = none). ``distance`` [B, C], if given, is the
    same haversine distance looked up from a cache.
    """
    if distance is None:
        lat, lon = c["lat"], c["lon"]
        shape = np.broadcast_shapes(np.shape(lat), (len(q["lat"]), 1))
        # An unknown home region sits at the candidates' centroid: distance says nothing.
        qlat = np.where(np.isnan(q["lat"]), np.broadcast_to(lat, shape).mean(axis=-1),
                        q["lat"])
        qlon = np.where(np.isnan(q["lon"]), np.broadcast_to(lon, shape).mean(axis=-1),
                        q["lon"])
        distance = haversine_km(qlat[:, None], qlon[:, None], lat, lon)
    shape = distance.shape

    def per_query(name: str) -> np.ndarray:
        return np.broadcast_to(q[name][:, None], shape)

    def per_cand(name: str) -> np.ndarray:
        return np.broadcast_to(c[name], shape)

    seen_before = (np.broadcast_to(cand_pos, shape)[:, :, None] == seen[:, None, :]).any(-1)
    urgency_weight = q["urgent"] + 2.0 * q["emergency"]
    cols = [
        distance,
        per_cand("region") == q["region"][:, None],
        per_cand("tier"),
        per_cand("title_rank"),
        per_cand("experience_years"),
        per_cand("log_referrals_365d"),
        per_cand("acceptance_rate"),
        per_cand("good_outcome_rate"),
        per_cand("mean_wait_days"),
        per_cand("days_to_next_slot"),
        per_cand("weekly_capacity"),
        per_cand("n_languages"),
        per_query("age_years"),
        per_query("sex_male"),
        per_query("n_chronic"),
        per_query("comorbidity_index"),
        per_query("prior_referrals"),
        per_query("urgent"),
        per_query("emergency"),
        per_cand("tier") - q["origin_tier"][:, None],
        seen_before,
        *(per_query(flag) for flag in COMORBIDITY_FLAGS),
        per_cand("mean_wait_days") * urgency_weight[:, None],
        spec._chapter[q["query"][:, :1], np.broadcast_to(c["codes"][..., 0], shape)],
    ]
    out = np.empty((*shape, len(cols)), dtype=np.float32)
    for k, v in enumerate(cols):
        out[..., k] = v
    return out


def encode_arrays(spec: FeatureSpec, q: Mapping[str, np.ndarray], c: Mapping[str, np.ndarray],
                  seen: np.ndarray, cand_pos: np.ndarray,
                  distance: np.ndarray | None = None) -> EncodedBatch:
    """Referral arrays x candidate arrays -> the model's tensors (see ``raw_features``)."""
    raw = raw_features(spec, q, c, seen, cand_pos, distance)[..., spec._columns]
    b, n = raw.shape[:2]
    # The practitioner column exists only for versions that learnt practitioners.
    width = 3 if spec.practitioners else 2
    cand = np.array(np.broadcast_to(c["codes"][..., :width], (b, n, width)))
    return EncodedBatch(torch.from_numpy(np.array(q["query"])),
                        torch.from_numpy(cand),
                        torch.from_numpy(normalise(spec, raw)), raw, tuple(spec.numeric))


def encode(
    spec: FeatureSpec,
    patients: list[dict[str, Any]],
    requests: list[dict[str, Any]],
    cands: list[CandidateTable],
) -> EncodedBatch:
    """Encode B referrals, each with its own candidate table of equal length C."""
    n = len(requests)
    q = query_arrays(spec, {k: [p.get(k) for p in patients] for k in _PATIENT_KEYS},
                     {k: [r.get(k) for r in requests] for k in _REQUEST_KEYS}, n)
    arrays = [candidate_arrays(spec, c) for c in cands]
    distance = None
    if len(arrays) == 1:
        c = {k: v[None] for k, v in arrays[0].items() if k != "region_km"}
        if q["region"][0] >= 0 and arrays[0]["region_km"] is not None:
            distance = arrays[0]["region_km"][q["region"]]  # the serving path: one referral
    else:
        c = {k: np.stack([a[k] for a in arrays]) for k in arrays[0] if k != "region_km"}
    c["codes"] = c["codes"].reshape(n, -1, 3)
    width = len(cands[0]) if cands else 0
    return encode_arrays(spec, q, c, seen_positions(patients, cands),
                         np.arange(width, dtype=np.int64)[None, :], distance)


_PATIENT_KEYS = ("home_region", "age_years", "sex", "n_chronic", "comorbidity_index",
                 "prior_referrals", *COMORBIDITY_FLAGS)
_REQUEST_KEYS = ("diagnosis_code", "urgency", "origin_tier")


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
