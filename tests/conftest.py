"""Shared fixtures: a fresh database per test, the real protocol, tracker builders for actions."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
# Tests never read the developer's .env: every setting they need is set here.
os.environ["DOTENV_DISABLED"] = "1"
# The study page's session key (its forms' CSRF tokens): never generated into the project's var/.
os.environ.setdefault("SITE_SECRET_KEY", "tests-study-page-secret-key-0123456789abcdef")

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="run the store tests against this database instead of a temporary SQLite file",
    )


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the migrations make, made once a session (they take 0.1-0.3 s on SQLite and
    0.4-0.9 s on PostgreSQL, and 300 tests start from them): an SQLite file to copy, and the
    tables a fresh PostgreSQL schema has, filled in by the first test that migrates one."""
    from bot import db

    template = tmp_path_factory.mktemp("migrated") / "template.db"
    db.init_db(f"sqlite:///{template}")
    db.dispose_all()
    return {"sqlite": template, "tables": None}


@pytest.fixture()
def database_url(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch,
                 _migrated: dict[str, object]) -> Iterator[str]:
    """A fresh, empty database for one test, migrated to the head; DATABASE_URL points at it.

    SQLite: a copy of a file the migrations made this session, the same bytes a migration of
    an empty file writes. PostgreSQL (a shared server): when its schema is exactly the one the
    migrations make (at the head, the same tables), its tables are emptied; anything else is
    dropped and migrated again. ``init_db`` runs on it as in production (at the head it only
    checks the keys)."""
    from bot import db

    url = request.config.getoption("--database-url") or f"sqlite:///{tmp_path / 'test.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))  # never the project's var/spool
    if url.startswith("sqlite"):
        shutil.copyfile(_migrated["sqlite"], tmp_path / "test.db")
    elif not _empty_migrated_schema(db.get_engine(url), _migrated):
        _drop_everything(db.get_engine(url))  # start from nothing, as SQLite does
        db.init_db(url)
        _migrated["tables"] = _tables(db.get_engine(url))
    db.init_db(url)  # a second time it only checks the keys
    yield url
    db.dispose_all()


def _drop_everything(engine: Engine) -> None:
    import bot.console.models  # noqa: F401 - the console's tables
    from bot.models import Base

    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def _tables(engine: Engine) -> frozenset[str]:
    import sqlalchemy as sa

    return frozenset(sa.inspect(engine).get_table_names())


def _empty_migrated_schema(engine: Engine, migrated: dict[str, object]) -> bool:
    """Empty the tables of a schema the migrations made (True); False, touching nothing, when
    it is not exactly that schema (another revision, a table more or less, the first test)."""
    from bot import schema

    tables = migrated["tables"]
    if tables is None or schema.current(engine) != schema.head() or _tables(engine) != tables:
        return False
    emptied = sorted(t for t in tables if t != "alembic_version")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in emptied) + " RESTART IDENTITY CASCADE"
        )
    return True


@pytest.fixture(scope="session")
def protocol():
    from bot.protocol import get_protocol

    return get_protocol("NCT06675422")


TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture()
def redis_key_prefix() -> Iterator[str]:
    """A key prefix of the test's own on the Redis these machines run (127.0.0.1:6379,
    ``TEST_REDIS_URL`` for another); every key under it is deleted afterwards."""
    import uuid

    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {TEST_REDIS_URL}")
    prefix = f"test{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


@pytest.fixture()
def tracker_db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An SQLite file for the encrypted tracker store, under a data key of the test's own."""
    from bot import crypto

    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "unused-key-file"))
    crypto.forget_keys()
    yield f"sqlite:///{tmp_path / 'rasa.db'}"
    crypto.forget_keys()
