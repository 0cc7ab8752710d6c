"""The store's schema comes from the migrations, matches the models, and upgrades in place."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

import bot.console.models  # noqa: F401 - the console's tables are in the same metadata
from bot import db, schema
from bot.models import Base, Screening


def test_the_migrations_build_exactly_the_tables_the_code_uses(database_url):
    engine = db.get_engine(database_url)
    assert schema.current(engine) == schema.head()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_running_the_set_up_again_changes_nothing(database_url):
    with db.session_scope() as session:
        session.add(Screening(conversation_id="c-1", trial_id="NCT06675422", channel="rest"))
    db.init_db(database_url)
    with db.session_scope() as session:
        assert session.execute(select(Screening.conversation_id)).scalars().all() == ["c-1"]


def test_a_store_made_before_migrations_is_adopted_with_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    # How the first release made its tables: the baseline's schema, with no version table.
    with engine.begin() as connection:
        command.upgrade(schema._config(connection), schema.BASELINE)
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text(
            "INSERT INTO screenings (id, conversation_id, trial_id, channel, language, status, "
            "started_at, updated_at, is_minor, crisis_help_shown) VALUES ('s1', 'c-old', "
            "'NCT06675422', 'rest', 'en', 'started', '2026-11-20 10:00:00', "
            "'2026-11-20 10:00:00', 0, 0)"
        ))
    engine.dispose()
    try:
        migrated = db.init_db(url)
        assert schema.current(migrated) == schema.head()
        assert "alembic_version" in inspect(migrated).get_table_names()
        with db.session_scope(url) as session:
            assert session.get(Screening, "s1").conversation_id == "c-old"
    finally:
        db.dispose_all()
