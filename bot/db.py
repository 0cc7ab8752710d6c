"""Database connection: one engine per process, picked by ``DATABASE_URL``.

SQLite is the embedded default (a file under ``var/``); PostgreSQL is the scale-out choice. Code
opens a short session per unit of work with :func:`session_scope`, which commits or rolls back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.files import private_sqlite
from bot.settings import PROJECT_ROOT, load_settings

_lock = threading.Lock()
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


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: ``DATABASE_URL``), created on first use."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                path = url.removeprefix("sqlite:///")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(
                    url,
                    future=True,
                    connect_args={"check_same_thread": False},
                    hide_parameters=True,  # SQL errors must not carry answers into logs
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


def init_db(url: str | None = None) -> Engine:
    """Bring the store's schema up to date: the Alembic migrations in ``bot/migrations/``."""
    from bot import schema
    from bot.rotation import check_keys

    engine = get_engine(url)
    schema.upgrade(engine)
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
