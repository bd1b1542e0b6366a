"""Behavioural checks of the trained champion (Made-With-ML style): invariance and direction."""

from __future__ import annotations

import pytest
import torch

from models.referral import encode
from tests.models.test_ranker_unit import candidates
from training.registry import load_alias

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def champion(platform):  # type: ignore[no-untyped-def]
    return load_alias(platform.settings, platform.settings.referral_model_name).bundle


def scores(bundle, patient, request, cands):  # type: ignore[no-untyped-def]
    batch = encode(bundle.spec, [patient], [request], [cands])
    with torch.no_grad():
        return bundle.model(batch.query, batch.cand, batch.numeric)[0].tolist()


PATIENT = {"home_region": "R1", "age_years": 67, "sex": "male", "n_chronic": 2,
           "comorbidity_index": 2}
MI = {"diagnosis_code": "I21.4", "urgency": "urgent", "origin_tier": 1}


def test_name_and_id_change_no_score(champion) -> None:  # type: ignore[no-untyped-def]
    a = scores(champion, {**PATIENT, "patient_id": "p_aaaa", "name": "王伟"}, MI, candidates())
    b = scores(champion, {**PATIENT, "patient_id": "p_bbbb", "name": "李娜"}, MI, candidates())
    assert a == b


def test_matching_specialty_ranks_higher(champion) -> None:  # type: ignore[no-untyped-def]
    cands = candidates(2, specialty=["cardiology", "orthopaedics"],
                       sub_specialty=["", ""])
    s = scores(champion, PATIENT, MI, cands)
    assert s[0] > s[1]


def test_nearer_candidate_ranks_higher(champion) -> None:  # type: ignore[no-untyped-def]
    lat, lon = champion.spec.regions["R1"]
    cands = candidates(2, lat=[lat, lat + 0.8], lon=[lon, lon + 0.8], region=["R1", "R1"])
    s = scores(champion, PATIENT, MI, cands)
    assert s[0] > s[1]
