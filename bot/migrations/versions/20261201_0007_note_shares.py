"""Readers' private notes on the study page, shared through a passcode-protected link.

Revision ID: 0007
Revises: 0006
Created: 2026-12-01

One row per share (``bot.models.NoteShare``): the notes sealed (Fernet, ``DATA_KEYS``), the
link's token as a SHA-256 hash, the passcode as an argon2id hash, when it expires
(``NOTES_SHARE_HOURS``), and the count of wrong passcodes. ``python -m bot purge`` deletes the
rows that have expired.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "note_shares",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("passcode_hash", sa.String(length=255), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=True),
        sa.Column("trial_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wrong_passcodes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_note_shares_token_hash")),
    )
    with op.batch_alter_table("note_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_note_shares_expires_at"), ["expires_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("note_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_note_shares_expires_at"))
    op.drop_table("note_shares")
