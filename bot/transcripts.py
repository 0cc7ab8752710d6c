"""Conversations as they were said, read from Rasa's SQL tracker store (its ``events`` table).

Rasa writes one row per event: ``type_name`` 'user' for what the patient sent (``data.text``, and
how NLU parsed it), 'bot' for what the bot said (``data.text``, buttons in ``data.data``). This
module reads them with plain SQLAlchemy Core, without Rasa, read-only: SQLite files are opened in
read-only mode so the console can never change the transcript store.

The tracker store (``channels/tracker_store.py``) keeps every event encrypted: ``sender_id``
deterministically (AES-SIV, :func:`stored_sender_id`), ``data``, ``intent_name`` and
``action_name`` randomised (Fernet). The :data:`events` table here has the raw columns, so what
it reads is ciphertext, decrypted below; only ``id``, ``type_name`` and ``timestamp`` are plain.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot import crypto
from bot.settings import PROJECT_ROOT, load_settings

metadata = MetaData()

# The columns of Rasa 3.6's SQLTrackerStore.SQLEvent, raw: the sealed ones hold ciphertext.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def tracker_store_url() -> str:
    load_settings()
    return os.environ.get("TRACKER_STORE_URL") or f"sqlite:///{PROJECT_ROOT / 'var' / 'rasa.db'}"


def _engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite" and parsed.database:
                path = quote(os.path.abspath(parsed.database))
                engine = create_engine(
                    f"sqlite:///file:{path}?mode=ro&uri=true",
                    future=True,
                    connect_args={"check_same_thread": False},
                )
            else:
                engine = create_engine(url, future=True, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@dataclass(frozen=True)
class Message:
    """One chat bubble."""

    sender: str  # "patient" | "bot"
    text: str
    at: datetime
    # For a patient: the button title when the message was a tapped button's payload.
    tapped: str | None = None
    intent: str | None = None
    buttons: tuple[str, ...] = field(default_factory=tuple)  # for the bot: the options offered


@dataclass(frozen=True)
class Transcript:
    conversation_id: str
    messages: list[Message]
    available: bool = True  # False when the tracker store cannot be read

    def between(self, start: datetime | None, end: datetime | None) -> list[Message]:
        return [
            m for m in self.messages
            if (start is None or m.at >= start) and (end is None or m.at <= end)
        ]


def _data(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _buttons(data: dict[str, Any]) -> list[dict[str, Any]]:
    inner = data.get("data") or {}
    buttons = inner.get("buttons") if isinstance(inner, dict) else None
    if not buttons:
        buttons = (inner.get("quick_replies") if isinstance(inner, dict) else None) or []
    return [b for b in buttons if isinstance(b, dict)]


def stored_sender_id(conversation_id: str) -> str:
    """The ``sender_id`` the tracker store writes for a conversation (under the newest key).

    Every query of the ``events`` table by conversation goes through here or through
    :func:`stored_sender_ids`, so the form the tracker store writes it in is decided in one place.
    """
    return crypto.encrypt_deterministic(conversation_id)


def stored_sender_ids(conversation_id: str) -> list[str]:
    """Every ``sender_id`` a conversation's events may carry: its ciphertext under each key in
    ``DATA_KEYS``, newest first (rows not yet re-encrypted by ``rotate-keys`` carry an older one).
    """
    return crypto.deterministic_forms(conversation_id)


def conversation_of(sender_id: str) -> str:
    """The conversation id a stored ``sender_id`` stands for."""
    return crypto.decrypt_deterministic(sender_id)


def open_event(raw: str | None) -> dict[str, Any]:
    """An event's ``data`` as Rasa wrote it, decrypted."""
    return _data(crypto.decrypt_text(raw) if raw else None)


def open_name(raw: str | None) -> str | None:
    """An event's ``intent_name`` or ``action_name``, decrypted."""
    return crypto.decrypt_text(raw) if raw else None


def read(conversation_id: str, url: str | None = None) -> Transcript:
    """Everything the patient and the bot said in one conversation, oldest first."""
    url = url or tracker_store_url()
    query = (
        select(events.c.type_name, events.c.timestamp, events.c.intent_name, events.c.data)
        .where(
            events.c.sender_id.in_(stored_sender_ids(conversation_id)),
            events.c.type_name.in_(("user", "bot")),
        )
        .order_by(events.c.timestamp, events.c.id)
    )
    try:
        with _engine(url).connect() as connection:
            rows = connection.execute(query).all()
    except (OperationalError, ProgrammingError):
        # No tracker database yet, or no events table in it: nothing was said through Rasa.
        return Transcript(conversation_id, [], available=False)

    messages: list[Message] = []
    payloads: dict[str, str] = {}  # the last buttons the bot offered: payload -> title
    for type_name, timestamp, intent_name, raw in rows:
        data = open_event(raw)
        at = datetime.fromtimestamp(timestamp or 0, tz=timezone.utc)
        text = str(data.get("text") or "")
        if type_name == "bot":
            buttons = _buttons(data)
            if buttons:  # the offer stands through the bubbles after it, until the next one
                payloads = {
                    str(b["payload"]): str(b.get("title") or "")
                    for b in buttons if b.get("payload")
                }
            titles = tuple(str(b.get("title") or "") for b in buttons)
            if text or buttons:
                messages.append(Message("bot", text, at, buttons=titles))
        else:
            intent = open_name(intent_name) or (
                (data.get("parse_data") or {}).get("intent") or {}
            ).get("name")
            messages.append(
                Message("patient", text, at, tapped=payloads.get(text), intent=intent)
            )
    return Transcript(conversation_id, messages)
