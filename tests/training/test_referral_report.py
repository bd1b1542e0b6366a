"""The referral report's subgroup figures and their MLflow names."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

from training.referral import (
    SUBGROUPS,
    gap_vs_oracle,
    max_gap_interval,
    per_query_metrics,
    ranking_report,
)
from training.registry import flat_metrics


def _groups(n: int) -> pd.DataFrame:
    half = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    return pd.DataFrame({"origin_tier": half + 1, "origin_region": "R1",
                         "age_band": np.where(half, "90+", "40-49"), "sex": "female"})[
        list(SUBGROUPS)]


def test_gap_vs_oracle_counts_only_what_the_oracle_does_not_share() -> None:
    n, c = 200, 20
    targets = np.zeros(n, int)
    groups = _groups(n)
    hard = groups["origin_tier"].to_numpy() == 2
    # The oracle ranks the target 1st in group 1 and 5th in group 2; the model does the
    # same: both show the same subgroup gap, none of it the model's own.
    scores = np.tile(-np.arange(c, dtype=float), (n, 1))
    scores[hard, 0] = -4.5
    oracle = ranking_report(scores, targets, groups, seed=0)
    model = ranking_report(scores.copy(), targets, groups, seed=0)
    assert oracle["subgroup_max_gap_ndcg@10"] > 0.3
    low, high = oracle["subgroup_max_gap_ndcg@10_ci95"]
    assert 0.3 < low <= oracle["subgroup_max_gap_ndcg@10"] <= high
    assert gap_vs_oracle(model, oracle) == 0.0
    # A model that ranks group 2's target 10th has a gap of its own.
    worse = scores.copy()
    worse[hard, 0] = -9.5
    own = ranking_report(worse, targets, groups, seed=0)
    assert gap_vs_oracle(own, oracle) > 0.05
    # Its interval resamples the per-query shortfall: none shared with the oracle, a clear
    # one of the model's own.
    def interval(model_scores: np.ndarray, report: dict) -> tuple[float, float]:
        shortfall = (per_query_metrics(model_scores, targets)["ndcg@10"]
                     - per_query_metrics(scores, targets)["ndcg@10"])
        return max_gap_interval(shortfall, groups, report["subgroup_ndcg@10"], seed=0)

    assert interval(scores, model) == (0.0, 0.0)
    low, high = (round(x, 4) for x in interval(worse, own))
    assert 0.05 < low <= gap_vs_oracle(own, oracle) <= high


def test_a_gap_of_noise_alone_has_an_interval_near_zero() -> None:
    rng = np.random.default_rng(3)
    n, c = 2000, 20
    scores = rng.normal(size=(n, c))  # every group ranked alike: any gap is noise
    report = ranking_report(scores, np.zeros(n, int), _groups(n), seed=0)
    low, high = report["subgroup_max_gap_ndcg@10_ci95"]
    assert low < 0.03 and report["subgroup_max_gap_ndcg@10"] <= high


def test_subgroup_names_are_valid_mlflow_keys() -> None:
    n = 100
    report = ranking_report(np.tile(-np.arange(12.0), (n, 1)), np.zeros(n, int), _groups(n),
                            seed=0)
    names = flat_metrics({"model": report})
    assert "model.subgroup_ndcg_at_10.age_band.90_" in names
    assert all(set(k) <= set(string.ascii_letters + string.digits + "_.-/: ") for k in names)


def test_every_metric_is_reported_per_subgroup_with_its_largest_gap() -> None:
    n, c = 400, 20
    groups = _groups(n)
    hard = groups["origin_tier"].to_numpy() == 2
    scores = np.tile(-np.arange(c, dtype=float), (n, 1))
    scores[hard, 0] = -4.5  # the target 5th in the second half, 1st in the first
    report = ranking_report(scores, np.zeros(n, int), groups, seed=0)
    tiers = report["subgroups"]["origin_tier"]
    assert set(tiers) == {"1", "2"} and tiers["1"]["queries"] == tiers["2"]["queries"] == 200
    assert tiers["1"]["mrr"] == 1.0 and tiers["2"]["mrr"] == 0.2
    assert tiers["2"]["hit@5"] == 1.0 and tiers["2"]["mrr_ci95"] == [0.2, 0.2]
    assert report["subgroup_max_gaps"]["mrr"] == 0.8
    assert report["subgroup_max_gaps"]["ndcg@10"] == report["subgroup_max_gap_ndcg@10"]
    assert report["subgroups"]["sex"]["female"]["ndcg@10"] == report["ndcg@10"]
    assert "model.subgroups.age_band.90_.calibration_error" in flat_metrics({"model": report})
