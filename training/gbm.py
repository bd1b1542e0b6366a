"""The strong learned baseline: LightGBM LambdaRank on the ranker's own features.

Same inputs as the neural ranker (raw numeric pair features plus the diagnosis and
specialty codes as categoricals), same split, same candidates: if it wins, ship it.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from models.referral import FeatureSpec, encode
from models.referral.encoding import NUMERIC
from training.referral_data import ReferralSet

CATEGORICAL = ("icd_letter", "icd_block", "specialty", "sub_specialty")


def matrix(spec: FeatureSpec, data: ReferralSet, rows: np.ndarray,
           cand_idx: list[np.ndarray] | None = None) -> np.ndarray:
    """[sum of candidates, numeric + categorical] for the given referrals."""
    parts = []
    for k, i in enumerate(rows):
        cands = data.candidates(int(i))
        if cand_idx is not None:
            cands = cands.take(cand_idx[k])
        b = encode(spec, [data.patient(int(i))], [data.request(int(i))], [cands])
        n = b.raw.shape[1]
        codes = np.concatenate([np.repeat(b.query.numpy(), n, axis=0), b.cand[0].numpy()], 1)
        parts.append(np.concatenate([b.raw[0], codes.astype(np.float32)], axis=1))
    return np.concatenate(parts)


def fit(spec: FeatureSpec, data: ReferralSet, rows: np.ndarray, targets: np.ndarray, *,
        seed: int, negatives: int = 40) -> lgb.Booster:
    """LambdaRank with the chosen target and ``negatives`` sampled others per referral."""
    rng = np.random.default_rng(seed)
    n_cand = len(data.candidate_ids)
    cand_idx, labels = [], []
    for t in targets:
        others = np.setdiff1d(np.arange(n_cand), [t])
        pick = rng.choice(others, size=min(negatives, len(others)), replace=False)
        idx = np.concatenate([[t], pick])
        cand_idx.append(idx)
        labels.append(np.r_[1.0, np.zeros(len(pick))])
    X = matrix(spec, data, rows, cand_idx)
    names = [*NUMERIC, *CATEGORICAL]
    train = lgb.Dataset(X, label=np.concatenate(labels), group=[len(c) for c in cand_idx],
                        feature_name=names, categorical_feature=list(CATEGORICAL),
                        free_raw_data=True)
    params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10],
              "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
              "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
              "lambdarank_truncation_level": 20, "seed": seed, "deterministic": True,
              "num_threads": 2, "verbose": -1, "max_cat_to_onehot": 8}
    return lgb.train(params, train, num_boost_round=300)


def score(booster: lgb.Booster, spec: FeatureSpec, data: ReferralSet, rows: np.ndarray
          ) -> np.ndarray:
    n_cand = len(data.candidate_ids)
    return booster.predict(matrix(spec, data, rows)).reshape(len(rows), n_cand)
