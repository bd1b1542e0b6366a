"""The ranker and its encoding, without training: shapes, vocabularies, identifiers."""

from __future__ import annotations

import numpy as np
import torch

from models.baselines import specialty_rule_scores
from models.ranking_metrics import calibration_error, ndcg_at, query_metrics
from models.referral import CandidateTable, FeatureSpec, ReferralRanker, encode
from models.referral.encoding import NUMERIC, fit_normalisation


def candidates(n: int = 4, **override: object) -> CandidateTable:
    rows: dict[str, list] = {
        "practitioner_id": [f"PR-{i}" for i in range(n)],
        "institution_id": ["R1-T1"] * n, "specialty": ["cardiology"] * n,
        "sub_specialty": ["interventional"] * n, "tier": [3] * n, "title_rank": [3] * n,
        "experience_years": [15] * n, "region": ["R1"] * n, "lat": [31.2] * n,
        "lon": [121.4] * n, "n_languages": [1] * n, "referrals_received_365d": [40] * n,
        "acceptance_rate": [0.8] * n, "good_outcome_rate": [0.8] * n,
        "mean_wait_days": [7.0] * n, "weekly_capacity": [40] * n,
        "next_free_slot_days": [2.0] * n,
    }
    rows.update({k: list(v) for k, v in override.items()})  # type: ignore[call-overload]
    return CandidateTable.from_records(rows)


def spec() -> FeatureSpec:
    s = FeatureSpec(letters=["I", "J"], blocks=["I21", "J44"],
                    specialties=["cardiology", "respiratory"],
                    sub_specialties=["interventional", "copd"],
                    regions={"R1": (31.2, 121.4), "R2": (31.6, 121.9)})
    s.index()
    s.mean, s.std = [0.0] * len(NUMERIC), [1.0] * len(NUMERIC)
    return s


def test_encoding_shapes_and_unknown_codes() -> None:
    batch = encode(spec(), [{"home_region": "R1"}], [{"diagnosis_code": "Z99.9",
                                                     "urgency": "urgent"}], [candidates()])
    assert batch.query.shape == (1, 2) and batch.query.tolist() == [[0, 0]]  # unknown -> 0
    assert batch.cand.shape == (1, 4, 2)
    assert batch.numeric.shape == (1, 4, len(NUMERIC))


def test_patient_identifiers_never_enter_the_features() -> None:
    s = spec()
    base = {"home_region": "R2", "age_years": 70, "sex": "female", "n_chronic": 2}
    named = {**base, "patient_id": "p_0123", "name": "张三", "id_number": "110101199003077777"}
    req = [{"diagnosis_code": "I21.4", "urgency": "routine"}]
    a = encode(s, [base], req, [candidates()])
    b = encode(s, [named], req, [candidates()])
    assert torch.equal(a.numeric, b.numeric) and torch.equal(a.query, b.query)


def test_ranker_scores_every_candidate() -> None:
    s = spec()
    torch.manual_seed(0)
    model = ReferralRanker(n_letters=3, n_blocks=3, n_specialties=3, n_sub_specialties=3,
                           n_numeric=len(NUMERIC)).eval()
    batch = encode(s, [{}], [{"diagnosis_code": "I21", "urgency": "routine"}],
                   [candidates(2000)])
    with torch.no_grad():
        scores = model(batch.query, batch.cand, batch.numeric)
    assert scores.shape == (1, 2000) and torch.isfinite(scores).all()


def test_normalisation_is_fitted_per_feature() -> None:
    s = spec()
    raw = np.random.default_rng(0).normal(5, 2, size=(10, 7, len(NUMERIC))).astype(np.float32)
    fit_normalisation(s, raw)
    assert abs(s.mean[0] - 5) < 0.5 and abs(s.std[0] - 2) < 0.5


def test_specialty_rule_prefers_match_then_tier_then_distance() -> None:
    cands = candidates(3, specialty=["respiratory", "cardiology", "cardiology"],
                       tier=[3, 2, 3], lat=[31.2, 31.2, 33.0])
    scores = specialty_rule_scores(cands, diagnosis_code="I21.4", origin_tier=2,
                                   patient_lat=31.2, patient_lon=121.4)
    assert list(np.argsort(-scores)) == [2, 1, 0]


def test_ranking_metrics() -> None:
    rel = np.array([0.0, 1.0, 0.0])
    assert query_metrics(np.array([0.1, 0.9, 0.5]), rel)["mrr"] == 1.0
    assert query_metrics(np.array([0.9, 0.1, 0.5]), rel)["mrr"] == 1 / 3
    assert ndcg_at(np.array([0.9, 0.5, 0.1]), rel, 5) == 1 / np.log2(3)
    # A tie is resolved against the relevant item: equal scores earn nothing.
    assert query_metrics(np.zeros(3), rel)["hit@5"] == 1.0
    assert query_metrics(np.zeros(3), rel)["mrr"] == 1 / 3


def test_feature_constant_in_training_cannot_move_scores() -> None:
    s = spec()
    s.mean, s.std = [], []
    train = encode(s, [{}], [{"diagnosis_code": "I21", "urgency": "routine"}],
                   [candidates(3, next_free_slot_days=[60.0] * 3)])
    fit_normalisation(s, train.raw)
    live = encode(s, [{}], [{"diagnosis_code": "I21", "urgency": "routine"}],
                  [candidates(3, next_free_slot_days=[0.5, 10.0, 60.0])])
    column = NUMERIC.index("days_to_next_slot")
    assert np.abs(live.numeric[0, :, column].numpy()).max() < 1e-6


def test_calibration_error_is_small_for_true_probabilities_and_large_otherwise() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 1.5, size=(4000, 30))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(30, p=row) for row in p])  # drawn from the softmax
    true = calibration_error(logits, targets, seed=1)
    sharp = calibration_error(logits * 3.0, targets, seed=1)  # overconfident
    assert true["mean"] < 0.01 and true["ci_low"] <= true["mean"] <= true["ci_high"]
    assert sharp["mean"] > 5 * true["mean"] and sharp["ci_low"] > true["ci_high"]
