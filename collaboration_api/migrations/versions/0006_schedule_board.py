"""Scheduling board: slot holds (one live hold per practitioner slot, by a unique key),
suggestions and the schedulers' decisions.

Revision ID: 0006_schedule_board
Revises: 0005_audit_grant
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_schedule_board"
down_revision = "0005_audit_grant"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_hold",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule_hold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_hold_institution_id"),
                              ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_hold_referral_id"), ["referral_id"],
                              unique=False)

    op.create_table(
        "schedule_hold_slot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hold_id", sa.String(length=36), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("slot_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("practitioner_id", "slot_start", name="uq_schedule_hold_slot"),
    )
    with op.batch_alter_table("schedule_hold_slot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_hold_slot_hold_id"), ["hold_id"],
                              unique=False)

    op.create_table(
        "schedule_suggestion_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("no_show_risk", sa.Float(), nullable=True),
        sa.Column("model_version", sa.String(length=16), nullable=True),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule_suggestion_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_suggestion_log_referral_id"),
                              ["referral_id"], unique=False)

    op.create_table(
        "schedule_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referral_id", sa.String(length=36), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("suggested", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("no_show_risk", sa.Float(), nullable=True),
        sa.Column("model_version", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("hold_id", sa.String(length=36), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_decision_referral_id"), ["referral_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedule_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_decision_referral_id"))
    op.drop_table("schedule_decision")
    with op.batch_alter_table("schedule_suggestion_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_suggestion_log_referral_id"))
    op.drop_table("schedule_suggestion_log")
    with op.batch_alter_table("schedule_hold_slot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_hold_slot_hold_id"))
    op.drop_table("schedule_hold_slot")
    with op.batch_alter_table("schedule_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_hold_referral_id"))
        batch_op.drop_index(batch_op.f("ix_schedule_hold_institution_id"))
    op.drop_table("schedule_hold")
