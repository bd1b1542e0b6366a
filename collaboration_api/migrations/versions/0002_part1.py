"""Collaboration API part 1: accounts, workflow history, decisions, notifications, audit,
appointments, encounters, consultations; referral gains its two-way fields.

Revision ID: 0002_part1
Revises: 0001_skeleton
Create Date: 2026-11-26 10:00:25.763793
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_part1"
down_revision = "0001_skeleton"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_app_user_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_app_user_role"), ["role"], unique=False)

    op.create_table(
        "appointment",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("requester_institution", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("subtype", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=True),
        sa.Column("entity_institution", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("outcome_desc", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=24), nullable=True),
        sa.Column("actor_institution", sa.String(length=32), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("path", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_actor_institution"), ["actor_institution"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_event_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_event_patient_ref"), ["patient_ref"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_event_recorded"), ["recorded"], unique=False)

    op.create_table(
        "consult",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("patient_ref", sa.String(length=40), nullable=False),
        sa.Column("diagnosis_code", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("business_status", sa.String(length=40), nullable=False),
        sa.Column("expert_practitioner_id", sa.String(length=64), nullable=True),
        sa.Column("expert_institution_id", sa.String(length=32), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.Column("encounter_id", sa.String(length=36), nullable=True),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("opinion_by", sa.String(length=36), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consult", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_expert_institution_id"), ["expert_institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consult_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consult_patient_ref"), ["patient_ref"], unique=False)

    op.create_table(
        "consult_recommendation_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consult_id", sa.String(length=36), nullable=False),
        sa.Column("model_version", sa.String(length=16), nullable=True),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consult_recommendation_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consult_recommendation_log_consult_id"), ["consult_id"], unique=False
        )

    op.create_table(
        "encounter",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("requester_institution", sa.String(length=32), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("class_code", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("video_profile", sa.String(length=16), nullable=True),
        sa.Column("video_state", sa.JSON(), nullable=False),
        sa.Column("quality_history", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("encounter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_encounter_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_user_id"), ["user_id"], unique=False)

    op.create_table(
        "recommendation_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("suggested", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=16), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recommendation_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recommendation_decision_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "workflow_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=40), nullable=False),
        sa.Column("to_status", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("actor_role", sa.String(length=24), nullable=False),
        sa.Column("actor_institution", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workflow_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_event_subject_id"), ["subject_id"], unique=False
        )

    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("target_practitioner_id", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("target_institution_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("appointment_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("encounter_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("discharge_summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_plan", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_referral_target_institution_id"), ["target_institution_id"], unique=False
        )
    # Skeleton referrals had no choice step: they wait for one now.
    op.execute(
        "UPDATE referral SET status = 'draft', business_status = 'awaiting-choice' "
        "WHERE business_status = 'awaiting-match'"
    )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_target_institution_id"))
        batch_op.drop_column("follow_up_plan")
        batch_op.drop_column("discharge_summary")
        batch_op.drop_column("encounter_id")
        batch_op.drop_column("appointment_id")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("target_institution_id")
        batch_op.drop_column("target_practitioner_id")
        batch_op.drop_column("attachments")
        batch_op.drop_column("requester_id")

    with op.batch_alter_table("workflow_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_event_subject_id"))

    op.drop_table("workflow_event")
    with op.batch_alter_table("recommendation_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendation_decision_subject_id"))

    op.drop_table("recommendation_decision")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_user_id"))

    op.drop_table("notification")
    with op.batch_alter_table("encounter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_encounter_subject_id"))

    op.drop_table("encounter")
    with op.batch_alter_table("consult_recommendation_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_recommendation_log_consult_id"))

    op.drop_table("consult_recommendation_log")
    with op.batch_alter_table("consult", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consult_patient_ref"))
        batch_op.drop_index(batch_op.f("ix_consult_institution_id"))
        batch_op.drop_index(batch_op.f("ix_consult_expert_institution_id"))

    op.drop_table("consult")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_recorded"))
        batch_op.drop_index(batch_op.f("ix_audit_event_patient_ref"))
        batch_op.drop_index(batch_op.f("ix_audit_event_entity_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_actor_institution"))
        batch_op.drop_index(batch_op.f("ix_audit_event_actor_id"))

    op.drop_table("audit_event")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_subject_id"))

    op.drop_table("appointment")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_user_role"))
        batch_op.drop_index(batch_op.f("ix_app_user_institution_id"))

    op.drop_table("app_user")
