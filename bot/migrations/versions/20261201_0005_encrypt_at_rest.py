"""Contact details, answers, notes and the outbox are encrypted at rest.

Revision ID: 0005
Revises: 0004
Created: 2026-12-01

Every value of the columns below is encrypted with the newest key in ``DATA_KEYS``
(:mod:`bot.crypto`); values already encrypted (a re-run) are left as they are.

- randomised (Fernet): what is only read back: the answers (``raw_text``, ``understood``, and
  ``value``, which stays a JSON column holding the token as a JSON string), the lead's contact
  details, notes, the opt-in's email, the outbox's address and body;
- deterministic (AES-SIV): ``screenings.conversation_id``, looked up by equality (the patient's
  phone number on Twilio); it stays VARCHAR(255), which holds ids of up to 173 bytes sealed.

No column changes type, so SQLite needs no table rebuild (a rebuild drops the old table, which
with foreign keys on would cascade to the answers and leads).

The downgrade decrypts them all again (with the keys in DATA_KEYS).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RANDOMISED = {
    "answers": ("raw_text", "understood", "value"),
    "leads": ("first_name", "last_name", "email", "phone", "other_language"),
    "lead_events": ("note",),
    "optins": ("email",),
    "outbox": ("to_addr", "body"),
}
DETERMINISTIC = {"screenings": ("conversation_id",)}


def _rewrite(table_name: str, columns: tuple[str, ...], change) -> None:  # noqa: ANN001
    """Apply ``change(column, value) -> value | None`` to every non-null value, row by row.

    ``answers.value`` is read and written through the JSON type: the value as JSON, the token
    as a JSON string.
    """
    connection = op.get_bind()
    table = sa.table(
        table_name, sa.column("id"),
        *(sa.column(c, sa.JSON if c == "value" else sa.Text) for c in columns),
    )
    rows = connection.execute(sa.select(*table.c).order_by(table.c.id)).all()
    for row in rows:
        values = {}
        for column in columns:
            value = getattr(row, column)
            if value is not None:
                new = change(column, value)
                if new is not None:
                    values[column] = new
        if values:
            connection.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def _sealed(value: object) -> bool:
    from bot import crypto

    return isinstance(value, str) and crypto.is_encrypted_text(value)


def upgrade() -> None:
    from bot import crypto

    def seal(column: str, value):  # noqa: ANN001, ANN202
        if _sealed(value):
            return None
        if column == "value":  # the answer as JSON
            return crypto.encrypt_text(json.dumps(value, ensure_ascii=False, sort_keys=True))
        return crypto.encrypt_text(value)

    def seal_id(_column: str, value: str) -> str | None:
        if crypto.is_encrypted_deterministic(value):
            return None
        return crypto.encrypt_deterministic(value)

    for table, columns in RANDOMISED.items():
        _rewrite(table, columns, seal)
    for table, columns in DETERMINISTIC.items():
        _rewrite(table, columns, seal_id)


def downgrade() -> None:
    from bot import crypto

    def open_(column: str, value):  # noqa: ANN001, ANN202
        if not _sealed(value):
            return None
        text = crypto.decrypt_text(value)
        return json.loads(text) if column == "value" else text

    def open_id(_column: str, value: str) -> str | None:
        if not crypto.is_encrypted_deterministic(value):
            return None
        return crypto.decrypt_deterministic(value)

    for table, columns in RANDOMISED.items():
        _rewrite(table, columns, open_)
    for table, columns in DETERMINISTIC.items():
        _rewrite(table, columns, open_id)
