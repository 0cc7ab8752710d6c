"""The console's settings, from the environment or ``.env`` (see the staff console section of
``.env.example``).

The secret key signs the session cookie and the forms' CSRF tokens. Running without one must not
be silently insecure, so when ``CONSOLE_SECRET_KEY`` is unset a random key is generated once,
kept in ``var/console-secret-key`` readable by its owner only, and the console says so.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.files import generated_secret
from bot.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)

SECRET_FILE = PROJECT_ROOT / "var" / "console-secret-key"


@dataclass(frozen=True)
class ConsoleSettings:
    secret_key: str
    port: int = 5006
    idle_minutes: int = 30
    cookie_secure: bool = True
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    tracker_store_url: str = ""
    # A session ends after this long even when in use, so a stolen cookie does not live forever.
    max_session_hours: int = 12
    # A new lead waiting more than this many days is marked overdue in the queue.
    overdue_days: int = 2


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _timezone(name: str | None) -> tzinfo:
    """``CONSOLE_TIMEZONE`` (an IANA name), else the machine's own time zone."""
    if name and name.strip():
        return ZoneInfo(name.strip())
    local = os.environ.get("TZ")
    if local:
        try:
            return ZoneInfo(local)
        except (KeyError, ValueError):
            pass
    try:
        localtime = Path("/etc/localtime").resolve()
        if "zoneinfo/" in str(localtime):
            return ZoneInfo(str(localtime).split("zoneinfo/", 1)[1])
    except (OSError, KeyError, ValueError):
        pass
    return ZoneInfo("UTC")


def tracker_store_url() -> str:
    load_settings()
    return os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{PROJECT_ROOT / 'var' / 'rasa.db'}"


def persisted_secret_key(path: Path = SECRET_FILE) -> str:
    """The generated key in ``path``, created with mode 0600 on first use."""
    return generated_secret(path, "a console secret key")


def load_console_settings(secret_file: Path = SECRET_FILE) -> ConsoleSettings:
    load_settings()
    env = os.environ
    key = env.get("CONSOLE_SECRET_KEY", "").strip()
    if key and len(key) < 32:
        raise RuntimeError("CONSOLE_SECRET_KEY must be at least 32 characters long")
    if not key:
        key = persisted_secret_key(secret_file)
        log.warning(
            "CONSOLE_SECRET_KEY is not set: using the key kept in %s. Set it in .env to share "
            "one key between console processes.",
            secret_file,
        )
    return ConsoleSettings(
        secret_key=key,
        port=int(env.get("CONSOLE_PORT") or 5006),
        idle_minutes=int(env.get("CONSOLE_IDLE_MINUTES") or 30),
        cookie_secure=_flag(env.get("CONSOLE_COOKIE_SECURE"), True),
        timezone=_timezone(env.get("CONSOLE_TIMEZONE")),
        tracker_store_url=tracker_store_url(),
        overdue_days=max(0, int(env.get("QUEUE_OVERDUE_DAYS") or 2)),
    )
