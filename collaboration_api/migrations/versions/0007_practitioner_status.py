"""Directory: an admin's changes to a practitioner's entry (active, specialty, weekly
capacity), pushed to the feature store.

Revision ID: 0007_practitioner_status
Revises: 0006_schedule_board
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_practitioner_status"
down_revision = "0006_schedule_board"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dir_practitioner_status",
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("practitioner_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("specialty", sa.String(length=64), nullable=True),
        sa.Column("weekly_capacity", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("institution_id", "practitioner_id"),
    )


def downgrade() -> None:
    op.drop_table("dir_practitioner_status")
