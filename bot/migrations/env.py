"""Alembic's entry point for the store's migrations (both the screening store and the console).

`bot.schema.upgrade` hands over an open connection; the ``alembic`` command line (``alembic.ini``
at the project root) connects to ``DATABASE_URL`` itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import bot.console.models  # noqa: F401 - the console's tables share the metadata
from bot.db import database_url, get_engine
from bot.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters a table by copying it
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := context.config.attributes.get("connection")) is not None:
    _run(given)
else:
    with get_engine().connect() as connection:
        _run(connection)
