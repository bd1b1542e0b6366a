"""Today's practice, as rules: send to the busiest, or to the specialty of the chapter at
the nearest higher-tier hospital."""

from __future__ import annotations

import numpy as np

from models.referral.encoding import CandidateTable, haversine_km, icd10_chapter_block

# ICD-10 (WHO) chapters by first letter -> the specialties a referring doctor would pick.
# Letters whose chapter spans two letters (C/D, V-Y) are listed under each letter.
CHAPTER_SPECIALTIES: dict[str, tuple[str, ...]] = {
    "A": ("infectious_disease",), "B": ("infectious_disease",),
    "C": ("oncology",), "D": ("oncology", "haematology"),
    "E": ("endocrinology",),
    "F": ("psychiatry",),
    "G": ("neurology",),
    "H": ("ophthalmology", "otolaryngology"),
    "I": ("cardiology",),
    "J": ("respiratory",),
    "K": ("gastroenterology",),
    "L": ("dermatology",),
    "M": ("orthopaedics", "rheumatology"),
    "N": ("nephrology", "urology"),
    "O": ("obstetrics_gynaecology",),
    "P": ("paediatrics",),
    "Q": ("paediatrics",),
    "R": ("general_practice",),
    "S": ("orthopaedics", "general_surgery"),
    "T": ("general_surgery",),
    "Z": ("general_practice",),
}


def popularity_scores(cands: CandidateTable) -> np.ndarray:
    """Referrals received in the last year: the doctor everyone already sends to."""
    return cands.columns["referrals_received_365d"].astype(np.float64)


def specialty_rule_scores(
    cands: CandidateTable, *, diagnosis_code: str, origin_tier: int,
    patient_lat: float, patient_lon: float,
) -> np.ndarray:
    """Specialty of the diagnosis's chapter first, then higher tier, then nearest."""
    letter, _ = icd10_chapter_block(diagnosis_code)
    wanted = CHAPTER_SPECIALTIES.get(letter, ("general_practice",))
    c = cands.columns
    match = np.isin(c["specialty"], wanted).astype(np.float64)
    higher = (c["tier"] > origin_tier).astype(np.float64)
    distance = haversine_km(patient_lat, patient_lon, c["lat"], c["lon"])
    # Lexicographic: match dominates tier, tier dominates distance (< 10,000 km).
    return match * 1e8 + higher * 1e5 - distance
