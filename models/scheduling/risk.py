"""Learned per-request estimates for scheduling: no-show risk and visit length.

``SchedulingRiskModel`` is a plain ``nn.Module`` with two heads over one small MLP: the
no-show logit and the log of the visit's minutes (trained with an L1 loss, so it estimates
the conditional median: the value that minimises the mean absolute error in minutes).
``RiskSpec`` holds the vocabularies and the scaling fitted on the training rows; ``encode``
turns raw feature rows (plain dicts of lists, as training and serving assemble them) into
tensors. No IO here.

Raw feature names (``RAW``): what is known when a visit is booked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .problem import MAX_DURATION, SLOT_MINUTES, URGENCIES

RAW = ("lead_days", "hour", "weekday", "urgency", "specialty", "diagnosis_code", "age_years",
       "sex", "comorbidity_index", "n_chronic", "prior_referrals", "distance_km", "tier",
       "title_rank", "mean_wait_days")
NUMERIC = ("log_lead_days", "hour", "late_afternoon", "age", "age_known", "comorbidity_index",
           "n_chronic", "prior_referrals", "log_distance_km", "tier", "title_rank",
           "mean_wait_days")
SEXES = ("male", "female", "unknown")
DEFAULT_MINUTES = float(SLOT_MINUTES)


@dataclass
class RiskSpec:
    """Vocabularies (index 0 = unknown) and numeric scaling, fitted on training rows."""

    specialties: list[str] = field(default_factory=list)
    chapters: list[str] = field(default_factory=list)  # ICD-10 letters
    mean: list[float] = field(default_factory=lambda: [0.0] * len(NUMERIC))
    std: list[float] = field(default_factory=lambda: [1.0] * len(NUMERIC))

    def to_dict(self) -> dict[str, Any]:
        return {"specialties": self.specialties, "chapters": self.chapters,
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RiskSpec:
        return cls(list(d["specialties"]), list(d["chapters"]), list(d["mean"]),
                   list(d["std"]))

    @property
    def sizes(self) -> dict[str, int]:
        return {"specialties": len(self.specialties) + 1, "chapters": len(self.chapters) + 1}


def _col(rows: Mapping[str, Sequence[Any]], name: str, n: int, default: float) -> np.ndarray:
    vals = rows.get(name)
    if vals is None:
        return np.full(n, default, dtype=np.float64)
    out = np.array([default if v is None else v for v in vals], dtype=np.float64)
    return np.where(np.isfinite(out), out, default)


def numeric_matrix(rows: Mapping[str, Sequence[Any]]) -> np.ndarray:
    """Unscaled numeric features [n, len(NUMERIC)]; missing values get neutral defaults."""
    n = len(next(iter(rows.values()))) if rows else 0
    lead = np.maximum(_col(rows, "lead_days", n, 7.0), 0.0)
    hour = _col(rows, "hour", n, 10.0)
    age = _col(rows, "age_years", n, -1.0)
    known = age >= 0
    return np.stack([
        np.log1p(lead), hour, (hour >= 15).astype(float), np.where(known, age, 50.0),
        known.astype(float), _col(rows, "comorbidity_index", n, 0.0),
        _col(rows, "n_chronic", n, 0.0), _col(rows, "prior_referrals", n, 0.0),
        np.log1p(np.maximum(_col(rows, "distance_km", n, 20.0), 0.0)),
        _col(rows, "tier", n, 3.0), _col(rows, "title_rank", n, 2.0),
        _col(rows, "mean_wait_days", n, 7.0)], axis=1) if n else np.zeros((0, len(NUMERIC)))


def fit_spec(rows: Mapping[str, Sequence[Any]]) -> RiskSpec:
    x = numeric_matrix(rows)
    std = x.std(axis=0)
    return RiskSpec(
        specialties=sorted({str(s) for s in rows.get("specialty", []) if s}),
        chapters=sorted({str(c)[:1] for c in rows.get("diagnosis_code", []) if c}),
        mean=[float(v) for v in x.mean(axis=0)],
        std=[float(v) if v > 1e-9 else 1.0 for v in std])


@dataclass
class EncodedRisk:
    numeric: torch.Tensor  # [n, len(NUMERIC)] float32, scaled
    cats: torch.Tensor  # [n, 5] long: urgency, specialty, chapter, weekday, sex


def encode(spec: RiskSpec, rows: Mapping[str, Sequence[Any]]) -> EncodedRisk:
    x = (numeric_matrix(rows) - np.asarray(spec.mean)) / np.asarray(spec.std)
    n = len(x)
    spec_ix = {s: i + 1 for i, s in enumerate(spec.specialties)}
    chap_ix = {c: i + 1 for i, c in enumerate(spec.chapters)}

    def get(name: str) -> list[Any]:
        return list(rows.get(name, [None] * n))

    urg = [URGENCIES.index(u) if u in URGENCIES else 0 for u in get("urgency")]
    sp = [spec_ix.get(str(s), 0) for s in get("specialty")]
    ch = [chap_ix.get(str(c)[:1], 0) if c else 0 for c in get("diagnosis_code")]
    wd = [int(d) % 7 if d is not None and d == d else 0 for d in get("weekday")]
    sx = [SEXES.index(s) if s in SEXES else 2 for s in get("sex")]
    cats = np.array([urg, sp, ch, wd, sx], dtype=np.int64).T.reshape(n, 5)
    return EncodedRisk(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(cats))


class SchedulingRiskModel(nn.Module):
    """(no-show logit, log minutes) per row."""

    def __init__(self, *, n_numeric: int, n_specialties: int, n_chapters: int,
                 dim: int = 4, hidden: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        self.urgency = nn.Embedding(len(URGENCIES), dim)
        self.specialty = nn.Embedding(n_specialties, dim)
        self.chapter = nn.Embedding(n_chapters, dim)
        self.weekday = nn.Embedding(7, dim)
        self.sex = nn.Embedding(len(SEXES), dim)
        self.body = nn.Sequential(nn.Linear(n_numeric + 5 * dim, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU())
        self.noshow = nn.Linear(hidden, 1)
        self.log_minutes = nn.Linear(hidden, 1)
        with torch.no_grad():  # start from a 30-minute visit and a low no-show rate
            self.log_minutes.bias.fill_(math.log(DEFAULT_MINUTES))
            self.noshow.bias.fill_(-2.0)

    def forward(self, numeric: torch.Tensor, cats: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        e = torch.cat([self.urgency(cats[:, 0]), self.specialty(cats[:, 1]),
                       self.chapter(cats[:, 2]), self.weekday(cats[:, 3]),
                       self.sex(cats[:, 4])], dim=1)
        h = self.body(torch.cat([numeric, e], dim=1))
        return self.noshow(h).squeeze(-1), self.log_minutes(h).squeeze(-1)


def predict(model: SchedulingRiskModel, spec: RiskSpec, rows: Mapping[str, Sequence[Any]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """(no-show probability, minutes) per row."""
    enc = encode(spec, rows)
    if len(enc.numeric) == 0:
        return np.zeros(0), np.zeros(0)
    model.eval()
    with torch.no_grad():
        logit, log_min = model(enc.numeric, enc.cats)
    return (torch.sigmoid(logit).numpy().astype(np.float64),
            torch.exp(log_min).numpy().astype(np.float64))


def slots_for(minutes: np.ndarray | float) -> np.ndarray:
    """Slots a visit of ``minutes`` needs (1 .. MAX_DURATION)."""
    m = np.asarray(minutes, dtype=np.float64)
    return np.clip(np.ceil(m / SLOT_MINUTES - 1e-6), 1, MAX_DURATION).astype(np.int64)
