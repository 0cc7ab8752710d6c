"""Every consent keeps the version of the words the patient agreed to.

Revision ID: 0003
Revises: 0002
Created: 2026-12-01

An ethics committee approves a consent wording, then a new one; each screening, lead and opt-in
records which version its patient saw (``bot/consent_versions.yml``). Rows from before
this revision keep a null version: their wording is still in ``consent_text``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("screenings", "leads", "optins")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("consent_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("consent_version")
