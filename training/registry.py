"""The MLflow side: where runs and models live, the model bundle format, the aliases.

Serving imports this module to load ``models:/<name>@champion``; it must stay free of
Lightning and Feast imports.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.referral import FeatureSpec, ReferralRanker
from regioncare.errors import UserError
from regioncare.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"


def configure(settings: Settings) -> None:
    import mlflow

    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)


def experiment(settings: Settings, name: str) -> str:
    """The experiment's id, created with artefacts under ``mlflow/artifacts``."""
    import mlflow

    configure(settings)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=settings.mlflow_artifact_root))


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metrics as MLflow metric names (``model.ndcg_at_10``); non-finite values and
    non-numbers are left out (MLflow keys may not hold ``@``)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        # MLflow keys hold letters, digits and _ - . / : and spaces ("90+" -> "90_")
        name = re.sub(r"[^\w.\-/: ]", "_", f"{prefix}{key}".replace("@", "_at_"))
        if isinstance(value, dict):
            out.update(flat_metrics(value, name + "."))
        elif isinstance(value, int | float) and math.isfinite(value):
            out[name] = float(value)
    return out


@dataclass
class TrainResult:
    """What a training run registered (both trainers return it)."""

    run_id: str
    model_version: str
    metrics: dict[str, Any]
    champion: str | None
    rows_without_features: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "model_version": self.model_version,
                "metrics": self.metrics, "champion": self.champion,
                "rows_without_features": self.rows_without_features}


@dataclass
class _Bundle:
    """What a model version is on disk: the module's weights, its arguments, its spec."""

    model: Any
    spec: Any
    config: dict[str, Any]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "weights.pt")
        (folder / "spec.json").write_text(json.dumps(self.spec.to_dict()))
        (folder / "config.json").write_text(json.dumps(self.config))

    @classmethod
    def _classes(cls) -> tuple[Any, Any]:  # (module class, spec class)
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path) -> Any:
        module_cls, spec_cls = cls._classes()
        config = json.loads((folder / "config.json").read_text())
        spec = spec_cls.from_dict(json.loads((folder / "spec.json").read_text()))
        model = module_cls(**config["module"])
        model.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
        model.eval()
        return cls(model, spec, config)


class RankerBundle(_Bundle):
    """A referral ranker version (models.referral.ReferralRanker and its FeatureSpec)."""

    model: ReferralRanker
    spec: FeatureSpec

    @classmethod
    def _classes(cls) -> tuple[Any, Any]:
        return ReferralRanker, FeatureSpec


class RiskBundle(_Bundle):
    """A scheduling-risk model version (no-show and duration) and its RiskSpec."""

    @classmethod
    def _classes(cls) -> tuple[Any, Any]:
        from models.scheduling.risk import RiskSpec, SchedulingRiskModel

        return SchedulingRiskModel, RiskSpec


@dataclass
class LoadedVersion:
    name: str
    version: str
    bundle: Any  # RankerBundle | RiskBundle


def load_alias(settings: Settings, name: str, alias: str = CHAMPION, *,
               bundle: type = RankerBundle) -> LoadedVersion:
    """Download and build the model version an alias points at."""
    from mlflow import MlflowClient

    configure(settings)
    version = str(MlflowClient().get_model_version_by_alias(name, alias).version)
    return load_version(settings, name, version, bundle=bundle)


def load_version(settings: Settings, name: str, version: str, *,
                 bundle: type = RankerBundle) -> LoadedVersion:
    """Download and build one model version."""
    import mlflow

    configure(settings)
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}")
    return LoadedVersion(name, version, bundle.load(Path(local) / "artifacts" / "bundle"))


def champion_version(settings: Settings, name: str) -> str | None:
    return alias_version(settings, name, CHAMPION)


def alias_version(settings: Settings, name: str, alias: str) -> str | None:
    """The version an alias points at (None: no such alias or model)."""
    return aliases(settings, name).get(alias)


def aliases(settings: Settings, name: str) -> dict[str, str]:
    """Every alias of a registered model and its version, in one registry read ({}: no
    such model)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    try:
        found = MlflowClient().get_registered_model(name).aliases or {}
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in found.items()}


def list_versions(settings: Settings, name: str) -> list[dict[str, Any]]:
    from mlflow import MlflowClient

    configure(settings)
    client = MlflowClient()
    versions = client.search_model_versions(f"name='{name}'")
    # search_model_versions leaves the aliases out; the registered model carries them.
    by_version: dict[str, list[str]] = {}
    for alias, version in (aliases(settings, name) if versions else {}).items():
        by_version.setdefault(version, []).append(alias)
    return [{"version": str(mv.version), "run_id": mv.run_id,
             "aliases": sorted(by_version.get(str(mv.version), [])),
             "created": mv.creation_timestamp}
            for mv in sorted(versions, key=lambda v: int(v.version))]


def promote(settings: Settings, name: str, version: str) -> str:
    """Point ``champion`` at a version; the old champion is remembered for rollback."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    client = MlflowClient()
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise UserError(f"model {name} has no version {version}") from exc
    current = champion_version(settings, name)
    if current is not None and current != version:
        client.set_registered_model_alias(name, PREVIOUS, current)
    client.set_registered_model_alias(name, CHAMPION, version)
    return version


def rollback(settings: Settings, name: str) -> str:
    """Move ``champion`` back to the version it pointed at before the last promotion."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    configure(settings)
    client = MlflowClient()
    try:
        previous = client.get_model_version_by_alias(name, PREVIOUS).version
    except MlflowException as exc:
        raise UserError(f"model {name} has no earlier champion to roll back to") from exc
    current = champion_version(settings, name)
    client.set_registered_model_alias(name, CHAMPION, previous)
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, current)
    return str(previous)
