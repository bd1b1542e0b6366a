"""Ranking metrics of one query: scores of its candidates and the graded relevance of each."""

from __future__ import annotations

import numpy as np


def rank_of_relevant(scores: np.ndarray, relevance: np.ndarray) -> np.ndarray:
    """1-based ranks of the relevant items; ties broken against the relevant item."""
    order = np.lexsort((relevance, -scores))  # by score desc, relevant after equal scores
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks[relevance > 0]


def ndcg_at(scores: np.ndarray, relevance: np.ndarray, k: int) -> float:
    order = np.lexsort((relevance, -scores))[:k]
    gains = (2.0 ** relevance[order] - 1) / np.log2(np.arange(2, len(order) + 2))
    ideal = np.sort(relevance)[::-1][:k]
    ideal_gain = ((2.0 ** ideal - 1) / np.log2(np.arange(2, len(ideal) + 2))).sum()
    return float(gains.sum() / ideal_gain) if ideal_gain > 0 else 0.0


def query_metrics(scores: np.ndarray, relevance: np.ndarray) -> dict[str, float]:
    ranks = rank_of_relevant(scores, relevance)
    best = int(ranks.min()) if len(ranks) else len(scores) + 1
    return {
        "ndcg@5": ndcg_at(scores, relevance, 5),
        "ndcg@10": ndcg_at(scores, relevance, 10),
        "hit@5": float(best <= 5),
        "mrr": 1.0 / best,
    }


def mean_with_ci(values: np.ndarray, *, seed: int = 0, n_boot: int = 500) -> dict[str, float]:
    """Mean and a 95% percentile bootstrap interval over queries."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    rng = np.random.default_rng(seed)
    boots = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    return {"mean": float(values.mean()), "ci_low": float(np.percentile(boots, 2.5)),
            "ci_high": float(np.percentile(boots, 97.5))}
