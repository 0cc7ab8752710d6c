"""The console against a fresh screening store (``database_url``) and a tracker store made the
way Rasa makes it, with a coordinator's and a monitor's account, each signed in through the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from bot import transcripts
from bot.console import accounts
from bot.console.app import create_app
from bot.console.settings import ConsoleSettings
from tests.console.support import COORDINATOR, EVENTS_DDL, MONITOR, PASSWORD, Tracker, sign_in


@pytest.fixture(autouse=True)
def quick_hashing(monkeypatch) -> None:
    """Argon2id still, with the cost turned down: production's costs ~1 s a hash on a busy CI."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))


@pytest.fixture()
def tracker(tmp_path: Path) -> Iterator[Tracker]:
    url = f"sqlite:///{tmp_path / 'rasa.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(EVENTS_DDL))
    engine.dispose()
    yield Tracker(url)
    transcripts.dispose_engines()


@pytest.fixture()
def settings(tracker: Tracker) -> ConsoleSettings:
    return ConsoleSettings(
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        idle_minutes=30,
        cookie_secure=True,
        timezone=ZoneInfo("UTC"),
        tracker_store_url=tracker.url,
    )


@pytest.fixture()
def app(database_url: str, settings: ConsoleSettings) -> Flask:
    application = create_app(settings)
    application.testing = True
    return application


@pytest.fixture()
def staff(database_url: str) -> dict[str, str]:
    accounts.add_staff(COORDINATOR, "Cora Coordinator", "coordinator", PASSWORD)
    accounts.add_staff(MONITOR, "Mo Monitor", "monitor", PASSWORD)
    return {"coordinator": COORDINATOR, "monitor": MONITOR}


@pytest.fixture()
def coordinator(app: Flask, staff) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, COORDINATOR).status_code == 302
    return client


@pytest.fixture()
def monitor(app: Flask, staff) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, MONITOR).status_code == 302
    return client
