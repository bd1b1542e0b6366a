"""Baselines every referral model is compared with, on the same split every time."""

from models.baselines.rules import CHAPTER_SPECIALTIES, popularity_scores, specialty_rule_scores

__all__ = ["CHAPTER_SPECIALTIES", "popularity_scores", "specialty_rule_scores"]
