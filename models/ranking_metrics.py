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


def calibration_error(scores: np.ndarray, targets: np.ndarray, *, top: int = 10,
                      bins: int = 10, seed: int = 0, n_boot: int = 200) -> dict[str, float]:
    """Expected calibration error of the probabilities a ranking gives its top candidates,
    with a 95% bootstrap interval over queries.

    ``scores`` [queries, candidates] are read as logits of which candidate is the right one
    (the ranker is trained with that softmax); each query's ``top`` candidates are binned
    by probability (equal-count bins) and each bin's mean probability is compared with how
    often its candidates were the target. Scores that are not logits (the rule, the
    popularity count) show it as a large error.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if len(scores) == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    shifted = scores - scores.max(axis=1, keepdims=True)
    prob_all = np.exp(shifted)
    prob_all /= prob_all.sum(axis=1, keepdims=True)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    prob = np.take_along_axis(prob_all, order, axis=1)
    hit = (order == targets[:, None]).astype(np.float64)
    edges = np.quantile(prob, np.linspace(0.0, 1.0, bins + 1))
    bin_of = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, bins - 1)

    def ece(rows: np.ndarray) -> float:
        b, p, h = bin_of[rows].ravel(), prob[rows].ravel(), hit[rows].ravel()
        # sum over bins of |sum p - sum hits| / pairs = weighted |mean p - hit rate|
        gap = np.abs(np.bincount(b, p, bins) - np.bincount(b, h, bins))
        return float(gap.sum() / len(b))

    rng = np.random.default_rng(seed)
    n = len(scores)
    boots = [ece(rng.integers(0, n, size=n)) for _ in range(n_boot)]
    return {"mean": ece(np.arange(n)), "ci_low": float(np.percentile(boots, 2.5)),
            "ci_high": float(np.percentile(boots, 97.5))}
