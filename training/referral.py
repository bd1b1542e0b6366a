"""Train, evaluate and register the referral ranker.

The referral set is encoded once into column arrays (``referral_data.encode_set``, the same
``encode_arrays`` serving uses); each training batch gathers its features from them. The
loss is a sampled softmax: the chosen specialist against hard negatives (the chosen one's
specialty, the patient's earlier specialists) and uniform random candidates. A softmax over
every candidate of the month is the exact likelihood of the recorded choice, but costs
O(candidates) per referral (~3,500 on `large`); the sample keeps the informative part of
it. Evaluation still ranks every candidate. Baselines are scored on the same held-out
referrals in the same run.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from models.baselines import popularity_scores, specialty_rule_scores
from models.ranking_metrics import calibration_error, mean_with_ci, query_metrics
from models.referral import FeatureSpec, ReferralRanker
from models.referral.encoding import fit_normalisation, icd10_chapter_block
from regioncare.settings import Settings
from training import referral_data as rd
from training.registry import CHALLENGER, RankerBundle, TrainResult

EXPERIMENT = "referral-matching"
METRICS = ("ndcg@5", "ndcg@10", "hit@5", "mrr")
SUBGROUPS = ("origin_tier", "origin_region", "age_band", "sex")
MIN_SUBGROUP = 30  # smaller subgroups give gaps that are mostly noise


@dataclass
class TrainConfig:
    seed: int = 7
    epochs: int = 20
    batch_size: int = 0  # 0: by data size, ~1% of the referrals within [64, 1024]
    lr: float = 3e-3
    weight_decay: float = 1e-4
    dim: int = 16
    hidden: int = 64
    # Tiny regions have ~2k training referrals: 0.3 held up across seeds 7-9 (tiny held-out
    # and a seed-5 region), 0.1 overfitted.
    dropout: float = 0.3
    # Per referral: the chosen specialist, the patient's earlier specialists (up to
    # MAX_SEEN), and these (40 in all: fwd/bwd costs ~2 us per pair on one thread).
    hard_negatives: int = 15  # same specialty as the chosen specialist
    random_negatives: int = 16  # uniform over all candidates
    # Up to this many candidates the softmax runs over all of them (exact, and no dearer
    # than the sample).
    full_softmax_max: int = 256
    # Epochs stop at this many referral passes: `large` (~900k training referrals) gets
    # 4 epochs (~11k referrals/s) inside its 15-minute budget; smaller regions get every
    # epoch asked for.
    max_train_examples: int = 3_600_000
    # Learning each practitioner's identity (ReferralRanker.practitioner) helps only where
    # the same practitioners are ranked again; on a region generated with another seed it
    # cost NDCG@10 0.614 -> 0.548 even with identity dropout, so it is off by default.
    practitioner_embedding: bool = False
    practitioner_dropout: float = 0.5  # share of pairs trained as an unknown practitioner
    gbm_max_referrals: int = 100_000  # the gbm baseline's training sample on large regions
    test_fraction: float = 0.2
    promote_margin: float = 0.005  # NDCG@10 a challenger must gain to become champion
    max_eval_referrals: int = 3000


class _Rows(torch.utils.data.Dataset):
    """Positions 0..n-1 of the training referrals; batches are built by ``_Batches``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> int:
        return k


class _Batches:
    """collate_fn: referral positions -> (query, cand, numeric, mask, logq), sampled softmax.

    Column 0 is the chosen specialist; ``mask`` marks negatives that are the chosen one.
    One numpy generator, used in loader order, keeps the run deterministic.
    """

    def __init__(self, es: rd.EncodedSet, rows: np.ndarray, config: TrainConfig) -> None:
        self.es, self.rows, self.config = es, rows, config
        self.rng = np.random.default_rng(config.seed)
        specialty = es.cands["codes"][-1, :, 0]  # a practitioner's specialty does not change
        self.by_specialty = np.argsort(specialty, kind="stable")
        values = specialty[self.by_specialty]
        n_values = int(specialty.max()) + 1
        self.first = np.searchsorted(values, np.arange(n_values))
        self.count = np.searchsorted(values, np.arange(n_values), side="right") - self.first
        self.specialty = specialty

    def __call__(self, positions: list[int]) -> tuple[torch.Tensor, ...]:
        rng, es, cfg = self.rng, self.es, self.config
        rows = self.rows[np.asarray(positions)]
        target = es.target[rows]
        b, n = len(rows), es.n_candidates
        if n <= cfg.full_softmax_max:
            cand_idx = np.concatenate([target[:, None], np.broadcast_to(np.arange(n), (b, n))],
                                      axis=1)
            return self._tensors(rows, target, cand_idx, torch.zeros(cand_idx.shape))
        s = self.specialty[target]
        pick = (rng.random((b, cfg.hard_negatives)) * self.count[s][:, None]).astype(np.int64)
        hard = self.by_specialty[self.first[s][:, None] + pick]
        rand = rng.integers(0, n, size=(b, cfg.random_negatives))
        seen = es.seen[rows]
        fill = seen < 0
        seen = np.where(fill, rng.integers(0, n, size=seen.shape), seen)
        cand_idx = np.concatenate([target[:, None], seen, hard, rand], axis=1)
        # logQ correction (sampled softmax, Jean et al. 2015): each candidate's expected
        # count in the sample, so that over-sampled same-specialty candidates do not teach
        # the model that the specialty matters less than it does over all candidates.
        same = self.specialty[cand_idx] == s[:, None]
        expected = (cfg.hard_negatives * same / self.count[s][:, None]
                    + (cfg.random_negatives + fill.sum(1, keepdims=True)) / n
                    + (cand_idx[:, :, None] == np.where(fill, -1, seen)[:, None, :]).any(-1))
        logq = torch.from_numpy(np.log(expected).astype(np.float32))
        return self._tensors(rows, target, cand_idx, logq)

    def _tensors(self, rows: np.ndarray, target: np.ndarray, cand_idx: np.ndarray,
                 logq: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rng, cfg = self.rng, self.config
        batch = self.es.batch(rows, cand_idx)
        cand = batch.cand
        if cfg.practitioner_embedding and cfg.practitioner_dropout > 0:
            # Trained both with and without the practitioner's identity, the model still
            # ranks well where practitioners are new (another region, a new hire).
            drop = torch.from_numpy(rng.random(cand.shape[:2]) < cfg.practitioner_dropout)
            cand = cand.clone()
            cand[..., 2] = cand[..., 2].masked_fill(drop, 0)
        mask = torch.from_numpy(cand_idx[:, 1:] == target[:, None])
        return batch.query, cand, batch.numeric, mask, logq


class RankerSystem(pl.LightningModule):
    """Lightning system around the plain ranker: loss, optimiser, nothing else."""

    def __init__(self, model: ReferralRanker, *, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        query, cand, numeric, mask, logq = batch
        scores = self.model(query, cand, numeric) - logq
        negatives = scores[:, 1:].masked_fill(mask, float("-inf"))
        logits = torch.cat([scores[:, :1], negatives], dim=1)
        target = torch.zeros(len(logits), dtype=torch.long)
        return torch.nn.functional.cross_entropy(logits, target)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr,
                                 weight_decay=self.weight_decay)


def fit_spec(settings: Settings, data: rd.ReferralSet, rows: np.ndarray,
             config: TrainConfig | None = None) -> FeatureSpec:
    config = config or TrainConfig()
    train = data.referrals.iloc[rows]
    codes = train["diagnosis_code"].astype(str)
    letters = sorted({icd10_chapter_block(c)[0] for c in codes})
    blocks = sorted({icd10_chapter_block(c)[1] for c in codes})
    some = next(iter(data.months.values())).columns
    regions = pd.read_parquet(settings.offline_dir / "regions.parquet")
    chosen = data.target_index()[rows]
    spec = FeatureSpec(
        letters=letters, blocks=blocks,
        specialties=sorted(set(some["specialty"].tolist())),
        sub_specialties=sorted(set(some["sub_specialty"].tolist())),
        regions={r.region: (float(r.lat), float(r.lon)) for r in regions.itertuples()},
        # Only practitioners chosen in training have an identity worth learning.
        practitioners=sorted({str(data.candidate_ids[t]) for t in chosen if t >= 0})
        if config.practitioner_embedding else [],
    )
    spec.index()
    sample = rows[:: max(1, len(rows) // 300)]
    raw = rd.encode_set(spec, data, sample).batch(np.arange(len(sample))).raw
    fit_normalisation(spec, raw)
    return spec


def module_args(spec: FeatureSpec, config: TrainConfig) -> dict[str, Any]:
    sizes = spec.sizes
    return {"n_letters": sizes["letters"], "n_blocks": sizes["blocks"],
            "n_specialties": sizes["specialties"],
            "n_sub_specialties": sizes["sub_specialties"],
            "n_practitioners": sizes["practitioners"], "n_numeric": len(spec.numeric),
            "dim": config.dim, "hidden": config.hidden, "dropout": config.dropout}


def train_model(es: rd.EncodedSet, rows: np.ndarray, config: TrainConfig) -> ReferralRanker:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)  # tips and device banners
    pl.seed_everything(config.seed, workers=True, verbose=False)
    model = ReferralRanker(**module_args(es.spec, config))
    rows = rows[es.target[rows] >= 0]
    batch_size = config.batch_size or int(np.clip(len(rows) // 100, 64, 1024))
    epochs = max(1, min(config.epochs, math.ceil(config.max_train_examples / max(1, len(rows)))))
    loader = DataLoader(_Rows(len(rows)), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed),
                        collate_fn=_Batches(es, rows, config))
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                         deterministic=True, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    threads = torch.get_num_threads()
    # Small dense layers: a second intra-op thread only spins against the other core's work
    # (the `small` region's training ran over 25 min with 2 threads on a loaded machine).
    torch.set_num_threads(1)
    try:
        trainer.fit(RankerSystem(model, lr=config.lr, weight_decay=config.weight_decay),
                    loader)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


def score_model(model: ReferralRanker, es: rd.EncodedSet) -> np.ndarray:
    """Scores of every candidate for each referral of ``es``: [referrals, candidates]."""
    rows = np.arange(len(es.month))
    out = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for start in range(0, len(rows), 64):
                b = es.batch(rows[start:start + 64])
                out.append(model(b.query, b.cand, b.numeric).numpy())
    finally:
        torch.set_num_threads(threads)
    return np.concatenate(out) if out else np.zeros((0, es.n_candidates))


def baseline_scores(spec: FeatureSpec, data: rd.ReferralSet, rows: np.ndarray
                    ) -> dict[str, np.ndarray]:
    pop, rule = [], []
    for i in rows:
        cands = data.candidates(int(i))
        patient = data.patient(int(i))
        lat, lon = spec.regions.get(str(patient.get("home_region")),
                                    (float(cands.columns["lat"].mean()),
                                     float(cands.columns["lon"].mean())))
        pop.append(popularity_scores(cands))
        rule.append(specialty_rule_scores(
            cands, diagnosis_code=str(patient["diagnosis_code"]),
            origin_tier=int(patient["origin_tier"]), patient_lat=lat, patient_lon=lon))
    return {"popularity": np.stack(pop), "specialty_rule": np.stack(rule)}


def per_query_metrics(scores: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric of each query (one relevant candidate per query, the chosen one)."""
    per_query: dict[str, list[float]] = {m: [] for m in METRICS}
    for s, t in zip(scores, targets, strict=True):
        rel = np.zeros(len(s))
        rel[t] = 1.0
        for name, value in query_metrics(s, rel).items():
            per_query[name].append(value)
    return {name: np.asarray(v) for name, v in per_query.items()}


def ranking_report(scores: np.ndarray, targets: np.ndarray, groups: pd.DataFrame | None,
                   *, seed: int, values: dict[str, np.ndarray] | None = None
                   ) -> dict[str, Any]:
    values = per_query_metrics(scores, targets) if values is None else values
    report = _metric_block(values, scores, np.asarray(targets), seed=seed)
    if groups is not None:
        # Every metric per subgroup (those of MIN_SUBGROUP queries or more), with its
        # interval; NDCG@10's figures, the bar's, also stand on their own.
        blocks: dict[str, dict[str, dict[str, Any]]] = {}
        for col in SUBGROUPS:
            known = groups[col].notna().to_numpy()
            labels = groups[col].astype(str).to_numpy()
            blocks[col] = {v: _metric_block({m: x[mask] for m, x in values.items()},
                                            scores[mask], np.asarray(targets)[mask], seed=seed)
                           for v in sorted(set(labels[known]))
                           for mask in [known & (labels == v)] if mask.sum() >= MIN_SUBGROUP}
        means = {col: {v: b["ndcg@10"] for v, b in by.items()} for col, by in blocks.items()}
        gaps = {col: _gap(by, "ndcg@10") for col, by in blocks.items()}
        report["subgroup_ndcg@10"] = means
        report["subgroup_gaps_ndcg@10"] = gaps
        report["subgroup_max_gap_ndcg@10"] = max(gaps.values()) if gaps else 0.0
        low, high = max_gap_interval(values["ndcg@10"], groups, means, seed=seed)
        report["subgroup_max_gap_ndcg@10_ci95"] = [round(low, 4), round(high, 4)]
        report["subgroups"] = blocks
        report["subgroup_max_gaps"] = {
            m: max(_gap(by, m) for by in blocks.values())
            for m in (*METRICS, "calibration_error")}
    report["queries"] = len(targets)
    return report


def _gap(by_value: dict[str, dict[str, Any]], metric: str) -> float:
    """Best minus worst subgroup of one attribute in ``metric`` (0 with fewer than two)."""
    values = [b[metric] for b in by_value.values()]
    return round(max(values) - min(values), 4) if len(values) > 1 else 0.0


def _metric_block(values: dict[str, np.ndarray], scores: np.ndarray, targets: np.ndarray,
                  *, seed: int) -> dict[str, Any]:
    """Each metric's mean over the queries with its 95% bootstrap interval, and the
    calibration error of their top-10 probabilities."""
    block: dict[str, Any] = {}
    for name in METRICS:
        stats = mean_with_ci(values[name], seed=seed)
        block[name] = round(stats["mean"], 4)
        block[f"{name}_ci95"] = [round(stats["ci_low"], 4), round(stats["ci_high"], 4)]
    calibration = calibration_error(scores, targets, seed=seed)
    block["calibration_error"] = round(calibration["mean"], 4)
    block["calibration_error_ci95"] = [round(calibration["ci_low"], 4),
                                       round(calibration["ci_high"], 4)]
    block["queries"] = len(targets)
    return block


def max_gap_interval(ndcg: np.ndarray, groups: pd.DataFrame,
                     means: dict[str, dict[str, float]], *, seed: int, n_boot: int = 500
                     ) -> tuple[float, float]:
    """95% bootstrap interval of the largest subgroup gap (queries resampled; the same
    subgroups as the point estimate): how much of a gap small subgroups' noise explains.
    The bootstrap of a maximum leans high, so the lower bound is the telling one."""
    rng = np.random.default_rng(seed)
    n = len(ndcg)
    codes = {}
    for col, kept in means.items():
        values = groups[col].astype(str).to_numpy()
        names = sorted(kept)
        lookup = {v: i for i, v in enumerate(names)}
        codes[col] = (np.fromiter((lookup.get(v, len(names)) for v in values), np.int64, n),
                      len(names))
    boots = np.zeros(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        for code, k in codes.values():
            if k < 2:
                continue
            count = np.bincount(code[idx], minlength=k + 1)[:k]
            total = np.bincount(code[idx], ndcg[idx], minlength=k + 1)[:k]
            m = total[count > 0] / count[count > 0]
            if len(m) > 1:
                boots[b] = max(boots[b], m.max() - m.min())
    return float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def prepare(settings: Settings, config: TrainConfig) -> tuple[rd.ReferralSet, np.ndarray,
                                                              np.ndarray]:
    """The referral set with features, and the train and test row numbers.

    History is split by time; decisions taken on suggestions in the API (accepted
    specialists) join the training rows only, so the held-out test stays historical.
    """
    from features.store import open_store
    from training.decisions import load_decision_labels

    store = open_store(settings)
    everything = rd.load_referrals(settings)
    history = rd.good_referrals(everything).assign(source="history")
    decisions, counts = load_decision_labels(settings)
    frames = [history]
    if not decisions.empty:
        frames.append(decisions.assign(source="decision"))
    referrals = pd.concat(frames, ignore_index=True)
    candidates = rd.candidate_universe(settings)
    referrals = referrals[referrals["target_practitioner_id"].isin(candidates)]
    data = rd.build_set(store, referrals.reset_index(drop=True), candidates,
                        history=everything)
    data.decision_counts = counts
    past = data.referrals[data.referrals["source"] == "history"]
    train, test = rd.time_split(past, test_fraction=config.test_fraction)
    from_decisions = data.referrals.index[data.referrals["source"] == "decision"].to_numpy()
    train_rows = np.concatenate([train.index.to_numpy(), from_decisions])
    return data, train_rows, test.index.to_numpy()[: config.max_eval_referrals]


def evaluate_all(settings: Settings, data: rd.ReferralSet, spec: FeatureSpec,
                 model: ReferralRanker, rows: np.ndarray, *, seed: int,
                 oracle_dir: Path | None, gbm: Any = None) -> dict[str, Any]:
    targets = data.target_index()[rows]
    groups = data.referrals.iloc[rows][list(SUBGROUPS)].reset_index(drop=True)
    baselines = baseline_scores(spec, data, rows)
    encoded = rd.encode_set(spec, data, rows)
    if gbm is not None:
        from training import gbm as gbm_baseline

        baselines["gbm"] = gbm_baseline.score(gbm, encoded)
    model_scores = score_model(model, encoded)
    model_values = per_query_metrics(model_scores, targets)
    metrics: dict[str, Any] = {
        "model": ranking_report(model_scores, targets, groups, seed=seed, values=model_values),
        "baselines": {name: ranking_report(s, targets, None, seed=seed)
                      for name, s in baselines.items()},
    }
    oracle = oracle_scores(settings, data, rows, oracle_dir)
    if oracle is not None:
        # With its subgroup gaps: the part of a gap that the data themselves hold.
        oracle_values = per_query_metrics(oracle, targets)
        metrics["oracle"] = ranking_report(oracle, targets, groups, seed=seed,
                                           values=oracle_values)
        own = metrics["model"]
        own["subgroup_max_gap_vs_oracle"] = gap_vs_oracle(own, metrics["oracle"])
        # Its interval: the per-query shortfall resampled, model and oracle on the same draw.
        low, high = max_gap_interval(model_values["ndcg@10"] - oracle_values["ndcg@10"],
                                     groups, own["subgroup_ndcg@10"], seed=seed)
        own["subgroup_max_gap_vs_oracle_ci95"] = [round(low, 4), round(high, 4)]
    return metrics


def gap_vs_oracle(model: dict[str, Any], oracle: dict[str, Any]) -> float:
    """The largest subgroup gap in the model's NDCG@10 shortfall from the oracle: how much
    worse the model serves one group than another beyond what the data allow (a group the
    oracle itself ranks badly is not the model's gap)."""
    gaps = [0.0]
    for col, means in model["subgroup_ndcg@10"].items():
        short = [means[v] - oracle["subgroup_ndcg@10"][col][v] for v in means
                 if v in oracle["subgroup_ndcg@10"][col]]
        if len(short) > 1:
            gaps.append(max(short) - min(short))
    return round(max(gaps), 4)


def oracle_scores(settings: Settings, data: rd.ReferralSet, rows: np.ndarray,
                  truth_dir: Path | None) -> np.ndarray | None:
    """The hidden preference model's own ranking, where the region's ground truth exists."""
    if truth_dir is None or not truth_dir.exists():
        return None
    from features.synth import load_ground_truth
    from features.synth import oracle_scores as truth_scores

    truth = load_ground_truth(truth_dir.parent,
                              pseudonym_key=settings.pseudonym_key.get_secret_value())
    scores = np.asarray(truth_scores(truth, data.referrals.iloc[rows],
                                     list(data.candidate_ids)), dtype=np.float64)
    return np.where(np.isfinite(scores), scores, -1e9)


def _champion_gbm(settings: Settings, version: str) -> Any:
    """The gbm baseline logged beside a model version (None for versions without one)."""
    import lightgbm as lgb
    import mlflow

    from training import registry

    registry.configure(settings)
    mv = mlflow.MlflowClient().get_model_version(settings.referral_model_name, version)
    try:
        path = mlflow.artifacts.download_artifacts(run_id=mv.run_id,
                                                   artifact_path="gbm_baseline.txt")
    except Exception:  # older versions were logged without it
        return None
    return lgb.Booster(model_file=path)


def train_referral(settings: Settings, config: TrainConfig | None = None, *,
                   progress: Any = None, truth_dir: Path | None = None) -> TrainResult:
    import mlflow

    from training import registry

    config = config or TrainConfig()
    started = time.perf_counter()
    phases: dict[str, float] = {}
    since, current = [started], [""]

    def step(msg: str) -> None:  # times each phase, for the JSON
        now = time.perf_counter()
        if current[0]:
            phases[current[0]] = round(now - since[0], 2)
        since[0], current[0] = now, msg
        if progress is not None and msg:
            progress(msg)

    step("point-in-time features from Feast")
    data, train_rows, test_rows = prepare(settings, config)
    if len(train_rows) == 0 or len(test_rows) == 0:
        from regioncare.errors import UserError

        raise UserError("not enough referrals to train on (ingest a region first)")
    targets = data.target_index()
    step("encoding the referral set")
    spec = fit_spec(settings, data, train_rows, config)
    encoded = rd.encode_set(spec, data)
    step("fitting the ranker and the gbm baseline")
    from training import gbm as gbm_baseline

    # The ranker steps on one core (one torch thread), so the gbm baseline takes the other
    # in a thread of its own: LightGBM works outside the GIL and reads the encoded set only.
    stop_gbm = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="gbm") as pool:
        gbm_job = pool.submit(_timed, gbm_baseline.fit, encoded, train_rows, seed=config.seed,
                              max_referrals=config.gbm_max_referrals, threads=1,
                              stop=stop_gbm)
        started_ranker = time.perf_counter()
        try:
            model = train_model(encoded, train_rows, config)
        except BaseException:  # Ctrl-C or a failure: do not wait for the gbm's 300 rounds
            stop_gbm.set()
            raise
        ranker_seconds = time.perf_counter() - started_ranker
        booster, gbm_seconds = gbm_job.result()
    del encoded
    step("evaluating against baselines")
    metrics = evaluate_all(settings, data, spec, model, test_rows, seed=config.seed,
                           oracle_dir=truth_dir, gbm=booster)
    champion_before = registry.champion_version(settings, settings.referral_model_name)
    if champion_before is not None:
        try:
            old = registry.load_alias(settings, settings.referral_model_name)
            metrics["champion"] = ranking_report(
                score_model(old.bundle.model, rd.encode_set(old.bundle.spec, data, test_rows)),
                targets[test_rows], None, seed=config.seed)
            metrics["champion"]["version"] = old.version
        except Exception as exc:  # an unreadable champion must not block a new version
            metrics["champion"] = {"error": str(exc)}

    step("logging to MLflow")
    bundle = RankerBundle(model, spec, {"module": module_args(spec, config),
                                        "feature_service": rd.SERVICE,
                                        "candidates": len(data.candidate_ids)})
    exp_id = registry.experiment(settings, EXPERIMENT)
    window = data.referrals["event_timestamp"]
    with mlflow.start_run(experiment_id=exp_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({**config.__dict__, "feature_service": rd.SERVICE,
                           "train_referrals": len(train_rows), "test_referrals": len(test_rows),
                           "candidates": len(data.candidate_ids),
                           "decision_labels": json.dumps(data.decision_counts),
                           "data_window": f"{window.min()} .. {window.max()}"})
        mlflow.log_metrics(registry.flat_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")
        mlflow.log_text(model_card(config, metrics, len(train_rows), len(test_rows)),
                        "model_card.md")
        folder = Path(tmp) / "bundle"
        bundle.save(folder)
        # The gbm baseline travels with the version, so `evaluate` can score it elsewhere.
        booster.save_model(str(Path(tmp) / "gbm_baseline.txt"))
        mlflow.log_artifact(str(Path(tmp) / "gbm_baseline.txt"))
        # The class is importable, so cloudpickle stores a reference to it, not its code:
        # MLflow's warning about pickled code does not apply.
        pyfunc_log = logging.getLogger("mlflow.pyfunc")
        level = pyfunc_log.level
        pyfunc_log.setLevel(logging.ERROR)
        try:
            info = _log_pyfunc(folder, settings.referral_model_name)
        finally:
            pyfunc_log.setLevel(level)
        version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(settings.referral_model_name, CHALLENGER, version)
    new_ndcg = metrics["model"]["ndcg@10"]
    old_ndcg = metrics.get("champion", {}).get("ndcg@10")
    if champion_before is None or old_ndcg is None or new_ndcg >= old_ndcg + config.promote_margin:
        registry.promote(settings, settings.referral_model_name, version)
    step("")
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    metrics["phase_seconds"] = phases
    metrics["fit_seconds"] = {"ranker": round(ranker_seconds, 2), "gbm": round(gbm_seconds, 2)}
    return TrainResult(run.info.run_id, version,
                       metrics, registry.champion_version(settings,
                                                          settings.referral_model_name),
                       data.rows_without_features)


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - started


def _log_pyfunc(folder: Path, name: str) -> Any:
    from training.pyfunc import ReferralRankerPyfunc, log_bundle

    return log_bundle(folder, name, ReferralRankerPyfunc())


def model_card(config: TrainConfig, metrics: dict[str, Any], n_train: int, n_test: int) -> str:
    lines = [
        "# Referral ranker", "",
        "Ranks specialist candidates for a referral by the chance of an accepted referral "
        "with a good outcome. Trained on point-in-time features from the "
        f"`{rd.SERVICE}` feature service; {n_train} training and {n_test} held-out "
        "referrals (time-based split).", "",
        "## Metrics on held-out referrals", "", "```json",
        json.dumps({k: metrics[k] for k in ("model", "baselines", "oracle") if k in metrics},
                   indent=2), "```", "",
        *_subgroup_table(metrics.get("model", {})),
        "## Training configuration", "", "```json", json.dumps(config.__dict__, indent=2),
        "```", "",
        "Intended use: decision support for referring clinicians; the clinician chooses.",
    ]
    return "\n".join(lines)


def _subgroup_table(model: dict[str, Any]) -> list[str]:
    """The model's held-out metrics per subgroup as a markdown table (with 95% intervals)."""
    if not model.get("subgroups"):
        return []
    lines = ["## Per subgroup (held-out)", "",
             "| subgroup | referrals | NDCG@10 [95% CI] | MRR | hit@5 | calibration error |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for col, by in model["subgroups"].items():
        for value, b in by.items():
            low, high = b["ndcg@10_ci95"]
            lines.append(f"| {col} {value} | {b['queries']} | {b['ndcg@10']:.3f} "
                         f"[{low:.3f}, {high:.3f}] | {b['mrr']:.3f} | {b['hit@5']:.3f} | "
                         f"{b['calibration_error']:.4f} |")
    gaps = ", ".join(f"{m} {v}" for m, v in model.get("subgroup_max_gaps", {}).items())
    lines += ["", f"Largest gap between subgroups of one attribute: {gaps}."]
    if "subgroup_max_gap_vs_oracle_ci95" in model:
        low, high = model["subgroup_max_gap_vs_oracle_ci95"]
        lines.append("The part of the NDCG@10 gap that is the model's own (its shortfall from "
                     "the oracle, compared between subgroups): "
                     f"{model['subgroup_max_gap_vs_oracle']} [{low}, {high}].")
    return [*lines, ""]


def evaluate_region(settings: Settings, region: Path, *, seed: int = 7,
                    max_referrals: int = 3000, progress: Any = None) -> dict[str, Any]:
    """The champion and the baselines on a region it was not trained on.

    The region is ingested into its own home under ``var/eval/`` (its own record stores,
    offline tables and Feast registry), so it never mixes with the training region.
    """
    from features.ingest import ingest
    from features.store import apply, open_store
    from regioncare.errors import UserError
    from training.registry import load_alias

    step = progress or (lambda _msg: None)
    if not (region / "manifest.json").exists():
        raise UserError(f"{region}: not a region folder (no manifest.json)")
    champion = load_alias(settings, settings.referral_model_name)
    home = settings.home / "eval" / region.resolve().name
    local = Settings(**{**settings.model_dump(), "home": home})
    local.ensure_dirs()
    step("ingesting the evaluation region")
    ingest([region], settings=local)
    apply(local)
    step("point-in-time features")
    everything = rd.load_referrals(local)
    referrals = rd.good_referrals(everything)
    candidates = rd.candidate_universe(local)
    referrals = referrals[referrals["target_practitioner_id"].isin(candidates)]
    referrals = referrals.tail(max_referrals).reset_index(drop=True)
    data = rd.build_set(open_store(local), referrals, candidates, history=everything)
    rows = np.arange(len(data.referrals))
    step("scoring")
    bundle = champion.bundle
    # The champion's vocabularies and scaling come with it; only region centroids are local.
    spec = FeatureSpec.from_dict({**bundle.spec.to_dict(), "regions": {
        r.region: (float(r.lat), float(r.lon))
        for r in pd.read_parquet(local.offline_dir / "regions.parquet").itertuples()}})
    metrics = evaluate_all(local, data, spec, bundle.model, rows, seed=seed,
                           oracle_dir=region / "ground_truth",
                           gbm=_champion_gbm(settings, champion.version))
    return {"model_version": champion.version, "region": str(region), "metrics": metrics}
