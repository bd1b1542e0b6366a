"""One active appointment per practitioner and start (no double booking of a slot).

Revision ID: 0004_slot_guard
Revises: 0003_part2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_slot_guard"
down_revision = "0003_part2"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('booked', 'arrived')"


def upgrade() -> None:
    op.create_index("uq_appointment_active_slot", "appointment", ["practitioner_id", "start"],
                    unique=True, sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))


def downgrade() -> None:
    op.drop_index("uq_appointment_active_slot", table_name="appointment")
