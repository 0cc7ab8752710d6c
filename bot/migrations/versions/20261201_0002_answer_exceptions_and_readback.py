"""Answers remember an exception the patient described, and an answer awaiting read-back.

Revision ID: 0002
Revises: 0001
Created: 2026-12-01

- ``exception``: one of the question's declared exceptions ("only a basal cell skin cancer"),
  which the engine leaves for the site to confirm.
- ``pending``: a typed answer that would rule the patient out, read back to them and not yet
  confirmed. It is stored so that nothing the patient gave is lost, and the engine ignores it
  until the patient says the read-back is right.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exception", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("pending")
        batch_op.drop_column("exception")
