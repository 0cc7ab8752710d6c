"""Outbox rows are claimed by one sender at a time, and retried after a delay.

Revision ID: 0004
Revises: 0003
Created: 2026-12-01

- ``claimed_by`` / ``claimed_until``: the worker that holds the row and until when (a lease, so
  a worker that dies does not keep a message forever).
- ``next_attempt_at``: when a message that failed is due again (the delay doubles per try).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
