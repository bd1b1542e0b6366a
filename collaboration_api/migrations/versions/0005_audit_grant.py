"""AuditEvent: the ledger grant (id and purpose of use) a cross-institution read used.

Revision ID: 0005_audit_grant
Revises: 0004_slot_guard
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_grant"
down_revision = "0004_slot_guard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grant_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("purpose", sa.String(length=24), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_event_grant_id"), ["grant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_grant_id"))
        batch_op.drop_column("purpose")
        batch_op.drop_column("grant_id")
