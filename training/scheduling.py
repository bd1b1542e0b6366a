"""Train, evaluate and register the scheduling-risk model (no-show risk and visit length).

One small network, two heads (``models.scheduling.risk``): binary cross-entropy for the
no-show and an L1 loss on log minutes for the length (the conditional median, which is
what minimises the mean absolute error). Held out: the most recent visits. Baselines on
the same rows in the same run: the training no-show rate (a constant: AUC 0.5) and the
training median length, plus the per-specialty median. Where the region's ground truth
exists, the hidden model's own probabilities and expected lengths give an ``oracle``.

Registered as ``settings.scheduling_model_name`` with the ``challenger`` alias, and
``champion`` when there is none yet or the no-show AUC gains ``promote_margin``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from models.scheduling.risk import (
    NUMERIC,
    RiskSpec,
    SchedulingRiskModel,
    encode,
    fit_spec,
    slots_for,
)
from models.scheduling.risk import predict as risk_predict
from regioncare.settings import Settings
from training import scheduling_data as sd
from training.registry import CHALLENGER, RiskBundle, TrainResult

EXPERIMENT = "specialist-scheduling"


@dataclass
class TrainConfig:
    seed: int = 7
    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    dim: int = 4
    hidden: int = 32
    duration_weight: float = 2.0  # L1 on log minutes is ~0.2; BCE ~0.4
    test_fraction: float = 0.2
    promote_margin: float = 0.005  # no-show AUC a challenger must gain to become champion
    bootstrap: int = 200


class RiskSystem(pl.LightningModule):
    """Lightning system around the plain model: the two losses and the optimiser."""

    def __init__(self, model: SchedulingRiskModel, *, lr: float, weight_decay: float,
                 duration_weight: float) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.duration_weight = lr, weight_decay, duration_weight

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        numeric, cats, noshow, log_minutes, has_minutes = batch
        logit, pred = self.model(numeric, cats)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, noshow)
        l1 = ((pred - log_minutes).abs() * has_minutes).sum() / has_minutes.sum().clamp(min=1)
        return bce + self.duration_weight * l1

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr,
                                 weight_decay=self.weight_decay)


def train_model(data: sd.RiskSet, spec: RiskSpec, rows: np.ndarray,
                config: TrainConfig) -> SchedulingRiskModel:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    model = SchedulingRiskModel(n_numeric=len(NUMERIC), n_specialties=spec.sizes["specialties"],
                                n_chapters=spec.sizes["chapters"], dim=config.dim,
                                hidden=config.hidden)
    enc = encode(spec, data.take(rows))
    minutes = data.minutes[rows]
    has = np.isfinite(minutes)
    dataset = TensorDataset(
        enc.numeric, enc.cats, torch.from_numpy(data.noshow[rows].astype(np.float32)),
        torch.from_numpy(np.log(np.where(has, minutes, 1.0)).astype(np.float32)),
        torch.from_numpy(has.astype(np.float32)))
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed))
    trainer = pl.Trainer(max_epochs=config.epochs, accelerator="cpu", devices=1,
                         deterministic=True, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: more threads only contend (measured 20x slower)
    try:
        trainer.fit(RiskSystem(model, lr=config.lr, weight_decay=config.weight_decay,
                               duration_weight=config.duration_weight), loader)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def noshow_report(y: np.ndarray, p: np.ndarray, *, seed: int, n_boot: int) -> dict[str, Any]:
    eps = 1e-6
    q = np.clip(p, eps, 1 - eps)
    out: dict[str, Any] = {
        "noshow_auc": round(_auc(y, p), 4),
        "noshow_logloss": round(float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))), 4),
        "noshow_brier": round(float(np.mean((p - y) ** 2)), 4),
    }
    if n_boot and len(set(np.round(p, 12))) > 1:
        rng = np.random.default_rng(seed)
        boots = [_auc(y[i], p[i]) for i in (rng.integers(0, len(y), len(y))
                                             for _ in range(n_boot))]
        lo, hi = np.nanpercentile(boots, [2.5, 97.5])
        out["noshow_auc_ci95"] = [round(float(lo), 4), round(float(hi), 4)]
    return out


def duration_report(actual: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    err = np.abs(pred - actual)
    return {"duration_mae_min": round(float(err.mean()), 3),
            "slots_accuracy": round(float((slots_for(pred) == slots_for(actual)).mean()), 4)}


def evaluate(data: sd.RiskSet, model: SchedulingRiskModel, spec: RiskSpec,
             train: np.ndarray, test: np.ndarray, *, seed: int, n_boot: int,
             truth_dir: Path | None = None, pseudonym_key: str | None = None
             ) -> dict[str, Any]:
    y = data.noshow[test]
    p, minutes = risk_predict(model, spec, data.take(test))
    fulfilled = np.isfinite(data.minutes[test])
    actual = data.minutes[test][fulfilled]
    base_rate = float(data.noshow[train].mean())
    train_min = data.minutes[train]
    median = float(np.nanmedian(train_min))
    spec_train = np.asarray(data.take(train)["specialty"], dtype=object)
    spec_median = pd.Series(train_min).groupby(spec_train).median().to_dict()
    spec_test = np.asarray(data.take(test)["specialty"], dtype=object)[fulfilled]
    per_spec = np.array([spec_median.get(s, median) for s in spec_test], dtype=float)
    per_spec = np.where(np.isfinite(per_spec), per_spec, median)
    metrics: dict[str, Any] = {
        "model": {**noshow_report(y, p, seed=seed, n_boot=n_boot),
                  **duration_report(actual, minutes[fulfilled])},
        "baselines": {
            "base_rate": {**noshow_report(y, np.full(len(y), base_rate), seed=seed,
                                          n_boot=0), "rate": round(base_rate, 4)},
            "median": {**duration_report(actual, np.full(len(actual), median)),
                       "minutes": median},
            "specialty_median": duration_report(actual, per_spec),
        },
        "test_rows": int(len(test)), "test_fulfilled": int(fulfilled.sum()),
        "train_rows": int(len(train)),
    }
    m, b = metrics["model"], metrics["baselines"]
    metrics["noshow_auc_gain_vs_base_rate"] = round(m["noshow_auc"] - b["base_rate"][
        "noshow_auc"], 4)
    metrics["duration_mae_ratio_vs_median"] = round(
        m["duration_mae_min"] / max(b["median"]["duration_mae_min"], 1e-9), 4)
    oracle = _oracle(data, test, truth_dir, pseudonym_key)
    if oracle is not None:
        op, om = oracle
        metrics["oracle"] = {**noshow_report(y, op, seed=seed, n_boot=0),
                             **duration_report(actual, om[fulfilled])}
    return metrics


def _oracle(data: sd.RiskSet, test: np.ndarray, truth_dir: Path | None,
            key: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The hidden model's probabilities and expected lengths for the held-out visits."""
    path = truth_dir / "appointments.csv" if truth_dir is not None else None
    if path is None or not path.exists() or key is None:
        return None
    from features.deid import opaque_id

    truth = pd.read_csv(path, dtype={"appointment_id": str, "institution": str})
    truth.index = ["a_" + opaque_id(key, "appointment", f"{i}\x1f{a}")
                   for i, a in zip(truth["institution"], truth["appointment_id"], strict=True)]
    ids = data.frame["appointment_id"].iloc[test]
    found = truth.reindex(ids)
    if found["p_noshow"].isna().any():
        return None  # another region's truth
    return found["p_noshow"].to_numpy(float), found["expected_minutes"].to_numpy(float)


def train_scheduling(settings: Settings, config: TrainConfig | None = None, *,
                     progress: Any = None, truth_dir: Path | None = None) -> TrainResult:
    import mlflow

    from features.store import open_store
    from regioncare.errors import UserError
    from training import registry
    from training.decisions import load_schedule_decision_labels

    config = config or TrainConfig()
    step = progress or (lambda _msg: None)
    started = time.perf_counter()
    step("point-in-time features from Feast")
    frame = sd.load_labelled(settings)
    if len(frame) < 50 or frame["status"].nunique() < 2:
        raise UserError("not enough visits with a known outcome to train on "
                        "(ingest a region with its appointment history first)")
    data = sd.build_set(open_store(settings), settings, frame)
    train, test = sd.time_split(frame, test_fraction=config.test_fraction)
    step("fitting")
    spec = fit_spec(data.take(train))
    model = train_model(data, spec, train, config)
    step("evaluating against baselines")
    metrics = evaluate(data, model, spec, train, test, seed=config.seed, n_boot=config.bootstrap,
                       truth_dir=truth_dir,
                       pseudonym_key=settings.pseudonym_key.get_secret_value())
    name = settings.scheduling_model_name
    champion_before = registry.champion_version(settings, name)
    if champion_before is not None:
        try:
            old = registry.load_alias(settings, name, bundle=RiskBundle)
            p_old, _ = risk_predict(old.bundle.model, old.bundle.spec, data.take(test))
            metrics["champion"] = {**noshow_report(data.noshow[test], p_old, seed=config.seed,
                                                   n_boot=0), "version": old.version}
        except Exception as exc:  # an unreadable champion must not block a new version
            metrics["champion"] = {"error": str(exc)}
    _labels, decision_counts = load_schedule_decision_labels(settings)

    step("logging to MLflow")
    bundle = RiskBundle(model, spec, {"module": {
        "n_numeric": len(NUMERIC), "n_specialties": spec.sizes["specialties"],
        "n_chapters": spec.sizes["chapters"], "dim": config.dim, "hidden": config.hidden},
        "feature_service": sd.SERVICE})
    exp_id = registry.experiment(settings, EXPERIMENT)
    with mlflow.start_run(experiment_id=exp_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({**config.__dict__, "feature_service": sd.SERVICE,
                           "train_rows": len(train), "test_rows": len(test),
                           "decision_labels": json.dumps(decision_counts),
                           "data_window": f"{frame['start'].min()} .. {frame['start'].max()}"})
        mlflow.log_metrics(registry.flat_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")
        mlflow.log_text(model_card(config, metrics), "model_card.md")
        folder = Path(tmp) / "bundle"
        bundle.save(folder)
        pyfunc_log = logging.getLogger("mlflow.pyfunc")
        level = pyfunc_log.level
        pyfunc_log.setLevel(logging.ERROR)
        try:
            info = _log_pyfunc(folder, name)
        finally:
            pyfunc_log.setLevel(level)
        version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(name, CHALLENGER, version)
    new_auc = metrics["model"]["noshow_auc"]
    old_auc = metrics.get("champion", {}).get("noshow_auc")
    if champion_before is None or old_auc is None or new_auc >= old_auc + config.promote_margin:
        registry.promote(settings, name, version)
    metrics["seconds"] = round(time.perf_counter() - started, 2)
    return TrainResult(run.info.run_id, version, metrics,
                       registry.champion_version(settings, name), data.rows_without_features)


def _log_pyfunc(folder: Path, name: str) -> Any:
    from training.pyfunc import SchedulingRiskPyfunc, log_bundle

    return log_bundle(folder, name, SchedulingRiskPyfunc())


def model_card(config: TrainConfig, metrics: dict[str, Any]) -> str:
    return "\n".join([
        "# Scheduling risk: no-show and visit length", "",
        "Estimates, for a visit being booked, the chance that the patient does not come and "
        "the visit's length (how many 30-minute slots it needs). Trained on the receiving "
        f"institutions' appointment history with point-in-time features from `{sd.SERVICE}`; "
        "the most recent visits are held out.", "",
        "## Metrics on held-out visits", "", "```json",
        json.dumps({k: metrics[k] for k in ("model", "baselines", "oracle") if k in metrics},
                   indent=2), "```", "",
        "## Training configuration", "", "```json", json.dumps(config.__dict__, indent=2),
        "```", "",
        "Intended use: the scheduler books risky requests sooner and sizes visits; it never "
        "overbooks and never lowers a patient's chance to be served.",
    ])
