"""The strong learned baseline: LightGBM LambdaRank on the ranker's own features.

Same inputs as the neural ranker (raw numeric pair features plus the diagnosis, specialty
and practitioner codes as categoricals), same split, same candidates: if it wins, ship it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np

from training.referral_data import EncodedSet

CATEGORICAL = ("icd_letter", "icd_block", "specialty", "sub_specialty", "practitioner")


def matrix(es: EncodedSet, rows: np.ndarray, cand_idx: np.ndarray | None = None
           ) -> np.ndarray:
    """[rows x candidates, numeric + categorical] float32 (candidates: all, or ``cand_idx``)."""
    parts = []
    for start in range(0, len(rows), 256):
        chunk = rows[start:start + 256]
        b = es.batch(chunk, None if cand_idx is None else cand_idx[start:start + 256])
        n = b.raw.shape[1]
        codes = np.concatenate([np.repeat(b.query.numpy()[:, None, :], n, axis=1),
                                b.cand.numpy()], axis=2)
        parts.append(np.concatenate([b.raw, codes.astype(np.float32)], axis=2)
                     .reshape(len(chunk) * n, -1))
    return np.concatenate(parts)


def fit(es: EncodedSet, rows: np.ndarray, *, seed: int, negatives: int = 40,
        max_referrals: int | None = None, threads: int = 2,
        stop: threading.Event | None = None) -> lgb.Booster:
    """LambdaRank with the chosen target and ``negatives`` sampled others per referral
    (uniform, without the target), on at most ``max_referrals`` referrals. Setting ``stop``
    ends the boosting at its next round with ``Cancelled``."""
    rng = np.random.default_rng(seed)
    rows = rows[es.target[rows] >= 0]
    if max_referrals and len(rows) > max_referrals:
        # The most recent ones: closest in time to the held-out referrals.
        rows = rows[-max_referrals:]
    target = es.target[rows]
    n_cand = es.n_candidates
    k = min(negatives, n_cand - 1)
    # Uniform over the other candidates: draw from n-1 and step over the target.
    pick = rng.integers(0, n_cand - 1, size=(len(rows), k))
    pick = pick + (pick >= target[:, None])
    cand_idx = np.concatenate([target[:, None], pick], axis=1)
    X = matrix(es, rows, cand_idx)
    labels = np.zeros(cand_idx.shape, dtype=np.float32)
    labels[:, 0] = 1.0
    categorical = list(CATEGORICAL[:X.shape[1] - len(es.spec.numeric)])
    names = [*es.spec.numeric, *categorical]
    train = lgb.Dataset(X, label=labels.reshape(-1), group=np.full(len(rows), k + 1),
                        feature_name=names, categorical_feature=categorical,
                        free_raw_data=True)
    params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10],
              "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
              "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
              "lambdarank_truncation_level": 20, "seed": seed, "deterministic": True,
              "num_threads": threads, "verbose": -1, "max_cat_to_onehot": 8}
    return lgb.train(params, train, num_boost_round=300,
                     callbacks=[_stop_on(stop)] if stop is not None else None)


class Cancelled(Exception):
    """The fit was stopped from outside (its caller failed or was interrupted)."""


def _stop_on(stop: threading.Event) -> Callable[[Any], None]:
    def check(_env: Any) -> None:
        if stop.is_set():
            raise Cancelled
    return check


def score(booster: lgb.Booster, es: EncodedSet) -> np.ndarray:
    """Scores of every candidate for every referral of ``es``: [referrals, candidates]."""
    rows = np.arange(len(es.month))
    out = [booster.predict(matrix(es, rows[s:s + 256]), num_threads=2)
           for s in range(0, len(rows), 256)]
    return np.concatenate(out).reshape(len(rows), es.n_candidates) if out else np.zeros(
        (0, es.n_candidates))
