"""The real stack for end-to-end tests: the action server and the Rasa server with the trained
model, on free ports, with their own SQLite databases and outbox in a temporary folder."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.deploy.services import Services, free_port, latest_model, rasa_environment
from bot.settings import PROJECT_ROOT


@dataclass
class Stack:
    services: Services
    database_url: str
    tracker_store_url: str
    outbox_dir: Path
    log_dir: Path

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.services.rasa_port}"

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def talk(self, sender: str, text: str) -> list[dict]:
        """Send one message through the REST channel; the bot's replies."""
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            self.rest_url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    database_url = f"sqlite:///{base / 'prescreen.db'}"
    tracker_url = f"sqlite:///{base / 'rasa.db'}"
    outbox = base / "outbox"
    rasa_port, action_port = free_port(), free_port()
    env = rasa_environment(
        rasa_port,
        action_port,
        {
            "DATABASE_URL": database_url,
            "TRACKER_STORE_URL": tracker_url,
            "OUTBOX_DIR": str(outbox),
            "SMTP_HOST": "",
            "DOTENV_DISABLED": "1",
        },
    )
    from bot.db import init_db

    init_db(database_url)
    services = Services(
        rasa_port=rasa_port,
        action_port=action_port,
        model=latest_model(PROJECT_ROOT / "models"),
        env=env,
        log_dir=base / "log",
    )
    services.start(timeout=300)
    try:
        yield Stack(services, database_url, tracker_url, outbox, base / "log")
    finally:
        services.stop()
