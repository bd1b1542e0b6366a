"""Reading the registry for the models page; moving aliases through training.registry."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collaboration_api.problems import Problem
from regioncare.errors import UserError
from regioncare.settings import Settings

MLFLOW_UI = "http://127.0.0.1:5000"
RAY_DASHBOARD = "http://127.0.0.1:8265"


def overview(*, settings: Settings, db: Session, name: str) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    from training import registry

    try:
        versions = registry.list_versions(settings, name)
        aliases = registry.aliases(settings, name)
    except MlflowException:
        versions, aliases = [], {}
    accepted = _acceptance(db)
    for v in versions:
        v["aliases"] = sorted(a for a, ver in aliases.items() if ver == v["version"])
        v["metrics"] = _metrics(settings, v["run_id"]) if v["run_id"] else {}
        v["acceptance"] = accepted.get(
            v["version"], {"chosen": 0, "accepted": 0, "declined": 0, "rate": None}
        )
    return {
        "name": name,
        "champion": aliases.get(registry.CHAMPION),
        "challenger": aliases.get(registry.CHALLENGER),
        "previous": aliases.get(registry.PREVIOUS),
        "versions": versions,
        "links": {
            "mlflow_ui": getattr(settings, "mlflow_ui_url", None) or MLFLOW_UI,
            "ray_dashboard": getattr(settings, "ray_dashboard_url", None) or RAY_DASHBOARD,
        },
    }


@functools.lru_cache(maxsize=256)
def _metrics_cached(tracking_uri: str, run_id: str) -> str:
    import mlflow

    try:
        return json.dumps(mlflow.artifacts.load_dict(f"runs:/{run_id}/metrics.json"))
    except Exception:  # a run without the artefact: show the model without metrics
        return "{}"


def _metrics(settings: Settings, run_id: str) -> dict[str, Any]:
    # A run's metrics.json never changes: read it once per process.
    return json.loads(_metrics_cached(settings.mlflow_tracking_uri, run_id))


def _acceptance(db: Session) -> dict[str, dict[str, Any]]:
    """Per model version: how often people chose, and the receiving side accepted or
    declined, a practitioner that the version had suggested."""
    from collaboration_api.workflow.models import RecommendationDecision as D

    rows = db.execute(
        select(D.model_version, D.decision, func.count())
        .where(D.suggested.is_(True), D.model_version.is_not(None))
        .group_by(D.model_version, D.decision)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for version, decision, n in rows:
        entry = out.setdefault(str(version), {"chosen": 0, "accepted": 0, "declined": 0})
        if decision in entry:
            entry[decision] = int(n)
    for entry in out.values():
        decided = entry["accepted"] + entry["declined"]
        entry["rate"] = round(entry["accepted"] / decided, 4) if decided else None
    return out


def shadow_report(*, db: Session, limit: int = 5000) -> dict[str, Any]:
    """How the challenger, scored in shadow, ranked the requests the champion answered
    (the latest ``limit`` logged suggestions), per champion/challenger pair.

    Where the clinician chose a specialist, both lists are scored on that choice. The
    clinician chose from the champion's list, so those figures favour the champion: a
    challenger that keeps up with it there is a strong sign, one that trails is not proof.
    """
    from collaboration_api.referral.models import RecommendationLog as L
    from collaboration_api.workflow.models import RecommendationDecision as D

    logs = db.execute(select(L.referral_id, L.model_version, L.items, L.shadow)
                      .where(L.shadow.is_not(None)).order_by(L.id.desc()).limit(limit)).all()
    chosen = dict(db.execute(
        select(D.subject_id, D.practitioner_id)
        .where(D.subject_type == "referral", D.decision == "chosen",
               D.subject_id.in_({log.referral_id for log in logs}))).all()) if logs else {}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    scored: set[tuple[str, str, str]] = set()  # a referral's choice counts once per pair
    for referral_id, champion, items, shadow in logs:
        if not shadow or not champion:
            continue
        ours = [i["practitioner_id"] for i in items or []]
        theirs = list(shadow.get("practitioner_ids") or [])
        key = (str(champion), str(shadow.get("model_version")))
        p = pairs.setdefault(key, {"requests": 0, "top1_same": 0, "overlap": 0.0,
                                   "chosen": 0, "rr": [0.0, 0.0], "hit": [0, 0]})
        p["requests"] += 1
        p["top1_same"] += bool(ours and theirs and ours[0] == theirs[0])
        p["overlap"] += len(set(ours) & set(theirs)) / len(ours) if ours else 0.0
        pick = chosen.get(referral_id)
        if pick is None or (referral_id, *key) in scored:  # latest log of a referral first
            continue
        scored.add((referral_id, *key))
        p["chosen"] += 1
        for side, ranking in enumerate((ours, theirs)):
            if pick in ranking:
                p["hit"][side] += 1
                p["rr"][side] += 1.0 / (ranking.index(pick) + 1)
    out = []
    for (champion, challenger), p in sorted(pairs.items()):
        n, c = p["requests"], p["chosen"]
        out.append({
            "champion": champion, "challenger": challenger, "requests": n,
            "top1_agreement": round(p["top1_same"] / n, 4),
            "overlap_at_k": round(p["overlap"] / n, 4),
            "chosen": c,
            "champion_hit": round(p["hit"][0] / c, 4) if c else None,
            "challenger_hit": round(p["hit"][1] / c, 4) if c else None,
            "champion_mrr": round(p["rr"][0] / c, 4) if c else None,
            "challenger_mrr": round(p["rr"][1] / c, 4) if c else None,
        })
    return {"pairs": out, "logs_read": len(logs)}


def promote(*, settings: Settings, name: str, version: str) -> str:
    from training import registry

    try:
        return registry.promote(settings, name, version)
    except UserError as exc:
        raise Problem(422, "Cannot promote", str(exc)) from exc


def rollback(*, settings: Settings, name: str) -> str:
    from training import registry

    try:
        return registry.rollback(settings, name)
    except UserError as exc:
        raise Problem(422, "Cannot roll back", str(exc)) from exc
