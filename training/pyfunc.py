"""The MLflow pyfunc face of a referral model version, for data scientists' notebooks.

Serving does not go through pyfunc (it builds the module from the same bundle directly);
this class lets ``mlflow.pyfunc.load_model("models:/referral-ranker@champion")`` score a
referral given as a dict of patient features, request and candidate columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import torch


class ReferralRankerPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from training.registry import RankerBundle

        self.bundle = RankerBundle.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # No type hints here: MLflow would try to derive a schema from them.
        from models.referral import CandidateTable, encode

        items = model_input if isinstance(model_input, list) else [model_input]
        out = []
        for item in items:
            cands = CandidateTable.from_records(item["candidates"])
            batch = encode(self.bundle.spec, [item["patient"]], [item["request"]], [cands])
            with torch.no_grad():
                scores = self.bundle.model(batch.query, batch.cand, batch.numeric)[0]
            out.append(np.asarray(scores).tolist())
        return out


class SchedulingRiskPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` takes raw feature rows (a dict of lists, see
    ``models.scheduling.risk.RAW``) and gives ``{"no_show": [...], "minutes": [...]}``."""

    def load_context(self, context: Any) -> None:
        from training.registry import RiskBundle

        self.bundle = RiskBundle.load(Path(context.artifacts["bundle"]))

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        from models.scheduling.risk import predict

        rows = model_input if isinstance(model_input, dict) else model_input.to_dict("list")
        p, minutes = predict(self.bundle.model, self.bundle.spec, rows)
        return {"no_show": p.tolist(), "minutes": minutes.tolist()}


def log_bundle(folder: Path, name: str, python_model: mlflow.pyfunc.PythonModel) -> Any:
    """Log a saved bundle folder as a pyfunc model and register it under ``name``."""
    import mlflow

    return mlflow.pyfunc.log_model(
        name="model", python_model=python_model, artifacts={"bundle": str(folder)},
        # Given, not inferred: inference costs ~8 s and would pin the whole environment.
        pip_requirements=["torch==2.13.0", "mlflow==3.17.2", "numpy", "pandas"],
        registered_model_name=name,
    )
