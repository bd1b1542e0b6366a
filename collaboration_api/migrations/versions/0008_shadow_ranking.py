"""Referral suggestions: the challenger's ranking of the same request, scored in shadow.

Revision ID: 0008_shadow_ranking
Revises: 0007_practitioner_status
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_shadow_ranking"
down_revision = "0007_practitioner_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recommendation_log") as batch:
        batch.add_column(sa.Column("shadow", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendation_log") as batch:
        batch.drop_column("shadow")
