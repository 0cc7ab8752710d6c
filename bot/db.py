"""Database connection: one engine per process, picked by ``DATABASE_URL``.

SQLite is the embedded default (a file under ``var/``); PostgreSQL is the scale-out choice. Code
opens a short session per unit of work with :func:`session_scope`, which commits or rolls back.

On PostgreSQL the migrations run under an advisory lock (:func:`migration_lock`): when several
processes start at once (the cluster's replicas, action servers, console and outbox worker, or
pods in Kubernetes), one applies them and the others wait, then find the schema at its head and
do nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.files import private_sqlite
from bot.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
# The PostgreSQL advisory lock the migrations run under: one 64-bit number for the whole server,
# so it is this project's name in ASCII ("prescree") to keep clear of other applications' locks.
MIGRATION_LOCK_ID = int.from_bytes(b"prescree", "big") & 0x7FFF_FFFF_FFFF_FFFF
_engines: dict[str, Engine] = {}
_makers: dict[str, sessionmaker] = {}


def database_url() -> str:
    load_settings()
    return os.environ.get("DATABASE_URL") or f"sqlite:///{PROJECT_ROOT / 'var' / 'prescreen.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the staff console read while the action server writes; FKs are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted rows are overwritten with zeros, not left in free pages (erasure: bot/erasure.py).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


# Connections a SQLite file engine keeps open: about one per worker thread of the action server
# (asyncio's default executor has min(32, cores + 4)), more open on demand and are closed after.
SQLITE_POOL_SIZE = 8


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: ``DATABASE_URL``), created on first use.

    A SQLite file keeps a pool of open connections (SQLAlchemy 1.4 gives it none: each session
    opened the file anew, set its pragmas and closed it, three times an answer on the action
    server). A kept connection sees another process's writes, ``bot erase`` and ``bot purge``
    included, at its next statement: every session ends its transaction (commit or rollback),
    and the pool rolls back a connection it takes back, so none holds an old snapshot
    (tests/test_store_pool.py). What breaks a kept connection is closing any other descriptor of
    the database's files in the same process (``Path.read_bytes()`` on them): that drops the
    POSIX locks SQLite holds for all of the process's connections, so another process takes
    itself for the last user, removes the ``-wal`` and ``-shm`` files, and the kept connection
    goes on reading its stale copy (https://www.sqlite.org/howtocorrupt.html, 2.2). Nothing in
    the project reads the files so; tests that look at their bytes do it in another process.
    """
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                path = url.removeprefix("sqlite:///")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                memory = path in ("", ":memory:") or "mode=memory" in path
                engine = create_engine(
                    url,
                    future=True,
                    connect_args={"check_same_thread": False},
                    hide_parameters=True,  # SQL errors must not carry answers into logs
                    # An in-memory database lives in its one connection: SQLAlchemy's default.
                    **({} if memory else {"poolclass": QueuePool,
                                          "pool_size": SQLITE_POOL_SIZE, "max_overflow": 16}),
                )
                if path and path != ":memory:" and not path.startswith("file:"):
                    # Readable by the service's user only (the -wal and -shm files SQLite
                    # creates take the database file's mode).
                    event.listen(engine, "connect", lambda *_: private_sqlite(path))
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(
                    url, future=True, pool_pre_ping=True, hide_parameters=True
                )
            _engines[url] = engine
            _makers[url] = sessionmaker(engine, future=True, expire_on_commit=False)
        return engine


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the migration lock while the block runs: PostgreSQL's session advisory lock
    ``MIGRATION_LOCK_ID``, on a connection of its own (the migrations use another). A process
    that dies holding it loses it with its connection. Other databases: no lock (SQLite is one
    machine's file, and ``bot run`` migrates before it starts anything else)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")
            connection.rollback()


def migrate(engine: Engine) -> bool:
    """Apply the migrations the database lacks, under the migration lock; True when this
    process applied them, False when the schema was already at its head."""
    from bot import schema

    with migration_lock(engine):
        before = schema.current(engine)
        if before == schema.head():
            return False
        schema.upgrade(engine)
        log.info("database schema migrated from %s to %s", before or "nothing", schema.head())
        return True


def init_db(url: str | None = None) -> Engine:
    """Bring the store's schema up to date: the Alembic migrations in ``bot/migrations/``."""
    from bot.rotation import check_keys

    engine = get_engine(url)
    migrate(engine)
    check_keys(engine)  # a key removed too early fails here, clearly, not as lost patients
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    url = url or database_url()
    get_engine(url)
    session: Session = _makers[url]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _makers.clear()
