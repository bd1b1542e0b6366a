"""Decisions taken on suggestions in the API become labels for the next retraining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from collaboration_api.db import make_engine, migrate, session_factory
from collaboration_api.referral.models import Referral
from collaboration_api.workflow.models import RecommendationDecision
from regioncare.settings import Settings
from training.decisions import load_decision_labels


def test_accepted_suggestions_become_positive_labels(tmp_path: Path) -> None:
    settings = Settings(environment="test", home=tmp_path / "var", mlflow_dir=tmp_path / "ml")
    settings.ensure_dirs()
    engine = make_engine(settings.app_db_url)
    migrate(engine)
    now = datetime.now(UTC)
    with session_factory(engine)() as db:
        for rid in ("r1", "r2"):
            db.add(Referral(id=rid, institution_id="R1-C1", patient_id="local-1",
                            patient_ref="p_00000000000000aa", diagnosis_code="I21.4",
                            urgency="urgent", reason="chest pain"))
        db.flush()
        steps = [("r1", "PR-A", "chosen"), ("r1", "PR-A", "accepted"),
                 ("r2", "PR-B", "chosen"), ("r2", "PR-B", "declined")]
        for i, (rid, prac, decision) in enumerate(steps):
            db.add(RecommendationDecision(subject_type="referral", subject_id=rid,
                                          practitioner_id=prac, institution_id="R1-T1",
                                          decision=decision, suggested=True,
                                          model_version="3", rank=1, actor_id="u",
                                          at=now + timedelta(seconds=i)))
        db.commit()
    engine.dispose()

    labels, counts = load_decision_labels(settings)
    assert counts == {"chosen": 2, "accepted": 1, "declined": 1}
    assert labels["target_practitioner_id"].tolist() == ["PR-A"]  # the declined one is not
    row = labels.iloc[0]
    assert row["patient_id"] == "p_00000000000000aa" and row["origin_tier"] == 1
    assert row["diagnosis_code"] == "I21.4" and row["status"] == "accepted"
    assert "local-1" not in labels.to_string()  # the hospital's own id stays home


def test_no_database_means_no_labels(tmp_path: Path) -> None:
    settings = Settings(environment="test", home=tmp_path / "var", mlflow_dir=tmp_path / "ml")
    settings.ensure_dirs()
    labels, counts = load_decision_labels(settings)
    assert labels.empty and counts == {}
