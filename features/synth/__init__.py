"""Synthetic region: institutions, practitioners, patients, referrals and their exports.

Public API::

    generate(out, *, seed, scale, as_of) -> {"institutions", "patients", "practitioners",
                                             "referrals", "files"}
    load_ground_truth(dir, *, pseudonym_key=None) -> GroundTruth
    oracle_scores(truth, referral_rows, candidate_ids) -> np.ndarray [n_ref, n_cand]
"""

from features.synth.generate import generate
from features.synth.preference import (
    WEIGHTS,
    GroundTruth,
    PreferenceWeights,
    load_ground_truth,
    oracle_scores,
    referral_truth_key,
)

__all__ = ["generate", "load_ground_truth", "oracle_scores", "referral_truth_key",
           "GroundTruth",
           "PreferenceWeights", "WEIGHTS"]
