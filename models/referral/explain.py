"""Reasons for a recommendation, read off the model by occlusion.

Each reason group is replaced by its training mean (or, for the specialty fit, by the
unknown specialty; for the track record, also by an unknown practitioner) and the score
drop is that group's contribution; the groups that raise
the candidate's score most become its reasons, worded with the candidate's own values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.referral.encoding import EncodedBatch
from models.referral.ranker import ReferralRanker

GROUPS: dict[str, tuple[str, ...]] = {
    "specialty_fit": ("chapter_specialty",),
    "distance": ("distance_km", "same_region"),
    "wait": ("mean_wait_days", "days_to_next_slot", "urgent_wait_days"),
    "continuity": ("seen_before",),
    "track_record": ("log_referrals_365d", "acceptance_rate", "good_outcome_rate"),
    "seniority": ("title_rank", "experience_years"),
    "tier": ("tier", "origin_tier_gap"),
}
TITLES = {1: "resident", 2: "attending physician", 3: "associate chief physician",
          4: "chief physician"}
TIERS = {1: "community health centre", 2: "secondary hospital", 3: "tertiary hospital"}


@dataclass
class Contribution:
    group: str
    value: float


@torch.no_grad()
def contributions(model: ReferralRanker, batch: EncodedBatch, items: np.ndarray
                  ) -> list[list[Contribution]]:
    """Contribution of each reason group to each chosen item of referral 0 of ``batch``."""
    k = len(items)
    names = list(GROUPS)
    query = batch.query[:1].expand(k * (len(names) + 1), -1)
    cand = batch.cand[0, items].repeat(len(names) + 1, 1).clone()
    numeric = batch.numeric[0, items].repeat(len(names) + 1, 1).clone()
    for g, name in enumerate(names, start=1):
        rows = slice(g * k, (g + 1) * k)
        if name == "specialty_fit":
            cand[rows, :2] = 0
        if name == "track_record" and cand.shape[-1] > 2:
            cand[rows, 2] = 0  # what the model learnt about this practitioner's referrals
        for feature in GROUPS[name]:
            if feature in batch.names:
                numeric[rows, batch.names.index(feature)] = 0.0  # training mean after scaling
    scores = model(query, cand.unsqueeze(1), numeric.unsqueeze(1))
    scores = scores.squeeze(-1).view(len(names) + 1, k)
    drop = (scores[0:1] - scores[1:]).numpy()  # [G, k]
    return [[Contribution(names[g], float(drop[g, i])) for g in range(len(names))]
            for i in range(k)]


# English wording of each reason code. The console words the same codes in its user's
# language (``reason.<code>`` in collaboration_api/console/i18n); specialty, title and tier
# travel as codes, worded on each side.
WORDING: dict[str, str] = {
    "specialty_fit": "{specialty} fits diagnosis {diagnosis}",
    "distance": "{km} km away",
    "slot_today": "free slot today",
    "slot_in_days": "next free slot in {days} days",
    "no_declines": "no referrals declined yet",
    "track_record": "accepted {accepted} of {referrals} referrals in the past year, "
                    "{good_pct}% good outcomes",
    "seniority": "{title}, {years} years' experience",
    "continuity": "saw this patient before",
    "tier": "{tier}",
    "rule_specialty": "rule: {specialty} for {diagnosis}",
}

Reason = tuple[str, dict[str, str | int]]  # (code, values)


def words(code: str, values: dict[str, str | int]) -> str:
    """A reason in English."""
    shown: dict[str, str | int] = dict(values)
    if "specialty" in shown:
        shown["specialty"] = str(shown["specialty"]).replace("_", " ")
    if "title" in shown:
        shown["title"] = TITLES.get(int(shown["title"]), "physician")
    if "tier" in shown:
        shown["tier"] = TIERS.get(int(shown["tier"]), "hospital")
    return WORDING[code].format(**shown)


def phrase(group: str, *, raw: np.ndarray, specialty: str, diagnosis: str,
           referrals_365d: float, names: Sequence[str]) -> Reason:
    """A reason group worded with the candidate's own values, as a code and its values."""
    value = dict(zip(names, raw.tolist(), strict=True))
    if group == "specialty_fit":
        return "specialty_fit", {"specialty": specialty, "diagnosis": diagnosis}
    if group == "distance":
        return "distance", {"km": round(value["distance_km"])}
    if group == "wait":
        days = value["days_to_next_slot"]
        return ("slot_today", {}) if days < 1 else ("slot_in_days", {"days": round(days)})
    if group == "track_record":
        n = int(round(referrals_365d))
        if n == 0:
            return "no_declines", {}
        return "track_record", {"accepted": int(round(value["acceptance_rate"] * n)),
                                "referrals": n,
                                "good_pct": round(100 * value["good_outcome_rate"])}
    if group == "seniority":
        return "seniority", {"title": int(round(value["title_rank"])),
                             "years": round(value["experience_years"])}
    if group == "continuity":
        return "continuity", {}
    if group == "tier":
        return "tier", {"tier": int(round(value["tier"]))}
    raise ValueError(group)


def top_reasons(contribs: list[Contribution], n: int = 3) -> list[str]:
    """The groups that help most; if none helps, the least harmful one."""
    ranked = sorted(contribs, key=lambda c: c.value, reverse=True)
    helpful = [c.group for c in ranked if c.value > 0][:n]
    return helpful or [ranked[0].group]
