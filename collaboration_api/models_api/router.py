"""/models: versions with their evaluation, acceptance in production, promote, roll back.

A thin HTTP face over ``training.registry`` (MLflow aliases champion / challenger /
previous-champion) for data scientists; the CLI's ``regioncare models`` does the same.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.models_api import service
from collaboration_api.problems import Problem, responses

router = APIRouter(prefix="/models", tags=["models"], responses=responses(401, 403, 404))
ROLES = ("data_scientist", "admin")


class Promote(BaseModel):
    version: str = Field(min_length=1, max_length=16, pattern=r"^[0-9]+$", examples=["3"])


class AliasMoved(BaseModel):
    name: str
    champion: str


def _check(caller: CurrentUser) -> None:
    if not caller.has_role(*ROLES):
        raise Problem(403, "Forbidden", "only data scientists manage models")


@router.get("")
def list_models(caller: CurrentUser, settings: SettingsDep, db: DbSession) -> dict:
    """The referral model's versions, best known first: aliases, evaluation metrics
    (model, baselines, oracle, subgroup gaps) and acceptance of its suggestions."""
    _check(caller)
    return service.overview(settings=settings, db=db, name=settings.referral_model_name)


@router.get("/{name}/shadow")
def shadow(name: str, caller: CurrentUser, settings: SettingsDep, db: DbSession) -> dict:
    """The challenger scored in shadow beside the champion on the same live requests: how
    often their top choices agree, their overlap, and how each ranked the specialist the
    clinician chose (which favours the champion, whose list the clinician saw)."""
    _check(caller)
    if name != settings.referral_model_name:
        raise Problem(404, "Not found", f"no shadow scoring for model {name}")
    return {"name": name, **service.shadow_report(db=db)}


@router.post("/{name}/promote", response_model=AliasMoved, responses=responses(422))
def promote(name: str, data: Promote, caller: CurrentUser, settings: SettingsDep) -> AliasMoved:
    """Point `champion` at a version; serving follows within seconds."""
    _check(caller)
    return AliasMoved(
        name=name, champion=service.promote(settings=settings, name=name, version=data.version)
    )


@router.post("/{name}/rollback", response_model=AliasMoved, responses=responses(422))
def rollback(name: str, caller: CurrentUser, settings: SettingsDep) -> AliasMoved:
    """Move `champion` back to the previous champion."""
    _check(caller)
    return AliasMoved(name=name, champion=service.rollback(settings=settings, name=name))
