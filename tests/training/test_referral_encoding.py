"""Training and serving read the same features: the batched training path
(``referral_data.encode_set``) and serving's ``encode`` agree, and the sampled-softmax
batches are deterministic."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
import torch

from models.referral import FeatureSpec, encode
from models.referral.encoding import NUMERIC, fit_normalisation
from tests.models.test_ranker_unit import candidates
from training import gbm
from training import referral_data as rd
from training.referral import TrainConfig, _Batches

MONTH = pd.Timestamp("2026-01-01", tz="UTC")


def referral_set() -> tuple[FeatureSpec, rd.ReferralSet]:
    cands = candidates(5, specialty=["cardiology", "cardiology", "respiratory", "cardiology",
                                     "respiratory"],
                       lat=[31.2, 31.3, 31.6, 31.9, 31.2], tier=[3, 2, 3, 3, 2],
                       next_free_slot_days=[0.5, 3.0, 9.0, 60.0, 1.0])
    ids = cands.columns["practitioner_id"]
    referrals = pd.DataFrame({
        "patient_id": ["p_1", "p_2"], "diagnosis_code": ["I21.4", "J44.1"],
        "urgency": ["urgent", "routine"], "origin_tier": [1, 2], "home_region": ["R1", "R2"],
        "age_years": [67, None], "sex": ["male", "female"], "n_chronic": [2, 0],
        "comorbidity_index": [3, 0], "prior_referrals": [1, 0], "has_hypertension": [1, 0],
        "has_diabetes": [0, 0], "has_copd": [0, 1], "has_chd": [1, 0], "has_ckd": [0, 0],
        "month": [MONTH, MONTH], "target_practitioner_id": [ids[0], ids[2]],
    })
    seen = np.full((2, rd.MAX_SEEN), -1)
    seen[0, 0] = 3  # p_1 was seen by the fourth candidate before
    data = rd.ReferralSet(referrals, {MONTH: cands}, ids, seen=seen)
    spec = FeatureSpec(letters=["I", "J"], blocks=["I21", "J44"],
                       specialties=["cardiology", "respiratory"],
                       sub_specialties=["interventional"],
                       regions={"R1": (31.2, 121.4), "R2": (31.6, 121.9)},
                       practitioners=[str(i) for i in ids[:3]])
    spec.index()
    fit_normalisation(spec, rd.encode_set(spec, data).batch(np.arange(2)).raw)
    return spec, data


def test_training_batches_equal_serving_encoding() -> None:
    spec, data = referral_set()
    batched = rd.encode_set(spec, data).batch(np.arange(2))
    for i in range(2):
        one = encode(spec, [data.patient(i)], [data.request(i)], [data.candidates(i)])
        np.testing.assert_array_equal(one.raw[0], batched.raw[i])
        assert torch.equal(one.cand[0], batched.cand[i])
        assert torch.equal(one.query[0], batched.query[i])
    column = NUMERIC.index("seen_before")
    assert batched.raw[0, :, column].tolist() == [0, 0, 0, 1, 0]
    assert batched.raw[1, :, column].tolist() == [0] * 5


def test_seen_before_is_point_in_time() -> None:
    ids = np.asarray(["A", "B", "C"])
    ts = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"], utc=True)
    history = pd.DataFrame({
        "patient_id": ["p", "p", "p"], "target_practitioner_id": ["A", "B", "C"],
        "status": ["completed", "declined", "accepted"], "event_timestamp": ts,
        "decision_timestamp": ts + pd.Timedelta(days=3)})
    seen = rd.seen_before(history, history, ids)
    assert seen[0].max() == -1  # nothing before the first referral
    assert seen[1].tolist()[:2] == [0, -1]  # A accepted before; B's own referral not yet
    assert seen[2].tolist()[:2] == [0, -1]  # B declined: never seen


def test_sampled_batches_are_deterministic() -> None:
    spec, data = referral_set()
    es = rd.encode_set(spec, data)
    config = TrainConfig(seed=3, hard_negatives=2, random_negatives=2, full_softmax_max=0)
    first = _Batches(es, np.arange(2), config)([0, 1])
    again = _Batches(es, np.arange(2), config)([0, 1])
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)
    query, cand, numeric, mask, logq = first
    assert numeric.shape[:2] == cand.shape[:2] == (2, 1 + rd.MAX_SEEN + 4)
    assert torch.isfinite(logq).all()


def test_gbm_baseline_stops_when_asked() -> None:
    """The gbm baseline fits beside the ranker; a failed or interrupted ranker stops it at
    its next boosting round instead of waiting for all of them."""
    spec, data = referral_set()
    es = rd.encode_set(spec, data)
    stop = threading.Event()
    booster = gbm.fit(es, np.arange(2), seed=3, threads=1, stop=stop)
    assert booster.num_trees() > 0
    stop.set()
    with pytest.raises(gbm.Cancelled):
        gbm.fit(es, np.arange(2), seed=3, threads=1, stop=stop)
