"""Shared fixtures: a fresh database per test, the real protocol, tracker builders for actions."""

from __future__ import annotations

import os
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


@pytest.fixture()
def database_url(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch) -> Iterator[str]:
    """A fresh, empty database for one test; DATABASE_URL points at it."""
    from bot import db

    url = request.config.getoption("--database-url") or f"sqlite:///{tmp_path / 'test.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))  # never the project's var/spool
    if not url.startswith("sqlite"):  # a shared server: start from nothing, as SQLite does
        _drop_everything(db.get_engine(url))
    db.init_db(url)
    yield url
    db.dispose_all()


def _drop_everything(engine: Engine) -> None:
    import bot.console.models  # noqa: F401 - the console's tables
    from bot.models import Base

    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@pytest.fixture(scope="session")
def protocol():
    from bot.protocol import get_protocol

    return get_protocol("NCT06675422")
