"""Who may call the action server: its address and the shared secret Rasa sends on every call.

The action server can change a lead's contact details, queue an email or stop a screening, so only
Rasa may reach it. By default it listens on loopback only (``ACTION_SERVER_HOST=127.0.0.1``), and
every call but ``/health`` must carry the shared secret in the ``X-Action-Server-Secret`` header,
which endpoints.yml's ``action_endpoint.headers`` makes Rasa send. The secret is
``ACTION_SERVER_SECRET`` from ``.env``; left empty, one is generated once into
``var/action-server-secret`` (mode 0600) and ``bot run`` passes it to both processes.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.files import generated_secret
from bot.settings import PROJECT_ROOT, load_settings

SECRET_HEADER = "X-Action-Server-Secret"
SECRET_ENV = "ACTION_SERVER_SECRET"
SECRET_FILE = PROJECT_ROOT / "var" / "action-server-secret"
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class ActionServerSettings:
    host: str
    secret: str

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def persisted_secret(path: Path = SECRET_FILE) -> str:
    """The generated secret in ``path``, created with mode 0600 on first use."""
    return generated_secret(path, "an action server secret", MIN_SECRET_LENGTH)


def action_server_secret(
    env: Mapping[str, str] | None = None, secret_file: Path = SECRET_FILE
) -> str:
    """``ACTION_SERVER_SECRET``, else the one kept in ``secret_file``."""
    load_settings()
    value = (os.environ if env is None else env).get(SECRET_ENV, "").strip()
    if value:
        if len(value) < MIN_SECRET_LENGTH:
            raise RuntimeError(f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters long")
        return value
    return persisted_secret(secret_file)


def load_action_server_settings(
    env: Mapping[str, str] | None = None, secret_file: Path = SECRET_FILE
) -> ActionServerSettings:
    """From ``env`` (the process environment by default, after ``.env``)."""
    load_settings()
    env = os.environ if env is None else env
    host = env.get("ACTION_SERVER_HOST", "").strip() or "127.0.0.1"
    return ActionServerSettings(host=host, secret=action_server_secret(env, secret_file))


def endpoint_host(bind_host: str) -> str:
    """The address Rasa calls the action server on, for the address it listens on."""
    if bind_host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host else bind_host
