"""Referral matching: encode a referral and its candidates, score them, explain the scores."""

from models.referral.encoding import CandidateTable, EncodedBatch, FeatureSpec, encode
from models.referral.ranker import ReferralRanker

__all__ = ["CandidateTable", "EncodedBatch", "FeatureSpec", "ReferralRanker", "encode"]
