"""A lead says how it reached the queue: the chat's screening, or the study page's contact form.

Revision ID: 0006
Revises: 0005
Created: 2026-12-01

A patient who would rather not chat can leave their details on the study page; that lead was not
pre-screened, and the console marks it so. Leads from before this revision all came from the
chat, which the server default says.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="chat")
        )


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("source")
