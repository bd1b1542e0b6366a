"""Reasons and notes travel as codes beside their English sentences; the Chinese console has
a wording, with the same placeholders, for every code and every value it words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from features.codes import SPECIALTIES
from models.referral.explain import GROUPS, TIERS, TITLES, WORDING, phrase, words
from serving.predictor import NOTE_WORDING

ZH = json.loads((Path(__file__).parents[2] / "collaboration_api" / "console" / "i18n"
                 / "zh-CN.json").read_text(encoding="utf-8"))


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


def test_every_code_has_a_chinese_wording_with_the_same_placeholders() -> None:
    for kind, table in (("reason", WORDING), ("note", NOTE_WORDING)):
        for code, english in table.items():
            zh = ZH[f"{kind}.{code}"]
            assert _placeholders(zh) == _placeholders(english), code
            assert re.search(r"[\u4e00-\u9fff]", zh) or zh == "{tier}", code
    assert all(f"title.{k}" in ZH for k in TITLES)
    assert all(f"tier.{k}" in ZH for k in TIERS)
    assert all(f"specialty.{s}" in ZH for s in SPECIALTIES)


def test_reason_codes_word_the_same_sentences_as_before() -> None:
    names = ["distance_km", "days_to_next_slot", "acceptance_rate", "good_outcome_rate",
             "title_rank", "experience_years", "tier"]
    raw = np.array([12.4, 2.2, 0.9, 0.834, 3.0, 22.0, 3.0])
    said = {g: words(*phrase(g, raw=raw, specialty="general_surgery", diagnosis="K35.8",
                             referrals_365d=10, names=names)) for g in GROUPS}
    assert said == {
        "specialty_fit": "general surgery fits diagnosis K35.8",
        "distance": "12 km away",
        "wait": "next free slot in 2 days",
        "continuity": "saw this patient before",
        "track_record": "accepted 9 of 10 referrals in the past year, 83% good outcomes",
        "seniority": "associate chief physician, 22 years' experience",
        "tier": "tertiary hospital",
    }
