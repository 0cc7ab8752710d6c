"""The store's schema, kept up to date by the Alembic migrations in ``bot/migrations/``.

Every command that opens the store (``python -m bot run``, ``console``, ``init-db``...) first
calls :func:`bot.db.init_db`, which lands here; the action server is started after it. A
database made before the migrations existed (by ``create_all``) is recognised and stamped with
the baseline, so the migrations after it apply to it as to any other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the first migration: the tables as they were when migrations began


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest migration's revision."""
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty or pre-migration database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply the migrations the database has not had yet, in one transaction per run."""
    with engine.begin() as connection:
        config = _config(connection)
        tables = set(inspect(connection).get_table_names())
        if "alembic_version" not in tables and "screenings" in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
