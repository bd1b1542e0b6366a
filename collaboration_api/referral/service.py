"""Referral workflow services: keyword-only functions the routers call."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.directory import service as directory
from collaboration_api.problems import Problem
from collaboration_api.referral.models import IdempotencyRecord, RecommendationLog, Referral
from collaboration_api.referral.schemas import (
    RecommendationPage,
    ReferralCreate,
    ReferralRead,
)
from collaboration_api.serving_client import ServingClient, ServingUnavailable
from regioncare.settings import Settings
from serving.schemas import RecommendRequest


def _body_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def create_referral(*, db: Session, settings: Settings, data: ReferralCreate,
                    idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """Create a referral; a retry with the same Idempotency-Key gets the first answer."""
    body_hash = _body_hash(data.model_dump())
    record = None
    if idempotency_key:
        record = IdempotencyRecord(scope="POST /referrals", key=idempotency_key,
                                   body_hash=body_hash)
        db.add(record)
        try:
            db.flush()
        except IntegrityError:
            db.rollback()
            first = db.scalars(select(IdempotencyRecord).where(
                IdempotencyRecord.scope == "POST /referrals",
                IdempotencyRecord.key == idempotency_key)).one()
            if first.body_hash != body_hash:
                raise Problem(422, "Idempotency-Key reused",
                              "this Idempotency-Key was used with a different body") from None
            if first.status_code is None:
                raise Problem(409, "Request in progress",
                              "the first request with this Idempotency-Key is still running"
                              ) from None
            return first.status_code, dict(first.response or {})

    patient = directory.find_patient(settings, data.patient_id)
    if patient is None:
        db.rollback()
        raise Problem(404, "Unknown patient", f"no patient {data.patient_id!r} is known")
    referral = Referral(id=str(uuid.uuid4()), institution_id=patient.institution_id,
                        patient_id=data.patient_id, patient_ref=patient.pseudonym,
                        diagnosis_code=data.diagnosis_code, urgency=data.urgency,
                        reason=data.reason)
    db.add(referral)
    db.flush()
    body = ReferralRead.model_validate(referral).model_dump(mode="json")
    if record is not None:
        record.status_code, record.response = 201, body
    db.commit()
    return 201, body


def get_referral(*, db: Session, referral_id: str) -> Referral:
    referral = db.get(Referral, referral_id)
    if referral is None:
        raise Problem(404, "Not found", f"no referral {referral_id}")
    return referral


def recommendations(*, db: Session, settings: Settings, serving: ServingClient,
                    referral_id: str, k: int = 10, request_id: str | None = None
                    ) -> RecommendationPage:
    referral = get_referral(db=db, referral_id=referral_id)
    req = RecommendRequest(patient_id=referral.patient_ref,
                           diagnosis_code=referral.diagnosis_code, urgency=referral.urgency,
                           origin_institution_id=referral.institution_id,
                           origin_tier=directory.institution_tier(referral.institution_id), k=k)
    try:
        result = serving.recommend(req, request_id=request_id)
    except ServingUnavailable as exc:
        raise Problem(503, "Recommender unavailable", str(exc)) from exc
    db.add(RecommendationLog(referral_id=referral.id, model_version=result.model_version,
                             degraded=result.degraded,
                             items=[i.model_dump(mode="json") for i in result.items]))
    db.commit()
    return RecommendationPage(referral_id=referral.id, model_version=result.model_version,
                              degraded=result.degraded, items=result.items)
