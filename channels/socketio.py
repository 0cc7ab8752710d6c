"""Rasa's socket.io connector (the study page's chat widget), with sessions the server issues and
binds to the client it gave them to, and the checks every channel makes.

- Rasa 3.6 calls ``sio.enter_room(...)`` without ``await``; since python-socketio 5.10 it is a
  coroutine, so the conversation's room is never joined and, with ``session_persistence: true``,
  no reply reaches the browser (RasaHQ/rasa#13027, still open). The ``session_request`` handler
  is registered again with the call awaited.
- Rasa takes whatever ``session_id`` the browser sends as the conversation id, so whoever knows
  or guesses a patient's id reads and writes their conversation. Here the server issues a
  session: a random id (32 hex digits) and a token, the HMAC of the id under a key only the
  server has (``SOCKETIO_SESSION_KEY``; else, in the cluster (``REDIS_URL``), one key generated
  once into Redis that every replica reads; else a key generated into
  ``var/socketio-session-key``, mode 0600). ``session_confirm`` sends
  ``{"session_id", "session_token"}``; a reload presents both and carries on, and an id
  without its token (forged, guessed, or copied without the token) gets a new session. Each
  socket is bound to the session it was confirmed: a message is taken for that session only,
  and a message naming another id, or sent before any ``session_request``, is dropped.
- Event data that is not an object, a message that is not a string, metadata that is not an
  object: dropped, never an exception.
- ``allowed_origins``: the pages allowed to open a socket (``SITE_ORIGIN``). Rasa's connector
  turns python-engineio's origin check off and leaves CORS headers to Rasa's ``--cors`` (both
  would send them twice, which browsers refuse), so the origin is checked here, on connect: a
  socket from a browser on any other page is refused (a WebSocket is not bound by CORS).
- Limits (:mod:`channels.limits`): a message over ``MAX_MESSAGE_CHARS`` is answered kindly
  without a turn; a session and a client address over their rate limits are answered once and
  then dropped until their bucket refills.

Everything else (events, output, metadata) is Rasa's. Credentials::

    channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      allowed_origins: ["http://localhost:8000"]
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import os
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from bot.files import generated_secret
from bot.settings import PROJECT_ROOT
from channels.limits import TOO_FAST, Guard, answer, client_address
from channels.shared_state import RedisSettings, sync_client

logger = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
KEY_FILE = PROJECT_ROOT / "var" / "socketio-session-key"
MIN_KEY_CHARS = 32


def is_session_id(value: Any) -> bool:
    """True for an id of the form this server issues (``uuid4().hex``)."""
    return isinstance(value, str) and _SESSION_ID.match(value) is not None


def session_key(path: Path = KEY_FILE) -> bytes:
    """``SOCKETIO_SESSION_KEY``; else, with ``REDIS_URL``, the cluster's key in Redis; else the
    key kept in ``path`` (created, mode 0600, once).

    Every Rasa replica behind one site must have the same key, or a session issued by one is
    refused by the others: set it in ``.env`` (or the Kubernetes secret), or let the first
    replica to start put one in Redis (``SET NX``: replicas starting together agree on it).
    """
    configured = os.environ.get("SOCKETIO_SESSION_KEY", "").strip()
    if configured:
        if len(configured) < MIN_KEY_CHARS:
            raise ValueError(f"SOCKETIO_SESSION_KEY must be at least {MIN_KEY_CHARS} characters")
        return configured.encode()
    shared = RedisSettings.from_env()
    if shared is not None:
        return shared_session_key(shared)
    return generated_secret(path, "a socket.io session key", MIN_KEY_CHARS).encode()


def shared_session_key(settings: RedisSettings) -> bytes:
    """The key every replica reads from Redis (``<prefix>:socketio-session-key``), made by the
    first. Read at start-up, so a blocking client is fine here."""
    client = sync_client(settings)
    try:
        name = settings.key("socketio-session-key")
        client.set(name, secrets.token_hex(32), nx=True)
        value = client.get(name)
    finally:
        client.close()
    if value is None or len(value) < MIN_KEY_CHARS:
        raise RuntimeError("Redis holds no usable socket.io session key")
    return bytes(value)


def session_token(key: bytes, session_id: str) -> str:
    return hmac.new(key, f"socketio-session:{session_id}".encode(), hashlib.sha256).hexdigest()


def is_issued(key: bytes, session_id: Any, token: Any) -> bool:
    """True when ``token`` is the one this server gave out with ``session_id``."""
    if not is_session_id(session_id) or not isinstance(token, str):
        return False
    return hmac.compare_digest(token.encode(), session_token(key, session_id).encode())


class SocketIOInput(socketio.SocketIOInput):
    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> SocketIOInput:
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        assert isinstance(channel, SocketIOInput)
        origins = credentials.get("allowed_origins")
        if origins is None:
            from bot.deploy.credentials import site_origins

            origins = site_origins(os.environ)
        channel.allowed_origins = [str(o) for o in origins]
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed_origins: list[str] | None = None  # None: Rasa's (no origin check)
        self.guard = Guard(self.name())
        self.key = session_key()
        self._bound: dict[str, str] = {}  # socket id -> the session it was confirmed
        self._addresses: dict[str, str] = {}  # socket id -> the client's address

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(self.guard.wrap(on_new_message))
        sio = self.sio
        if sio is None:  # pragma: no cover - Rasa's blueprint() always sets it
            raise RuntimeError("Rasa's socket.io blueprint did not create its server")
        namespace = self.namespace or "/"
        rasa_connect = sio.handlers[namespace]["connect"]
        rasa_disconnect = sio.handlers[namespace]["disconnect"]
        rasa_handle_message = sio.handlers[namespace][self.user_message_evt]

        @webhook.listener("before_server_start")
        async def remember_agent(app: Any, _loop: Any) -> None:
            self.guard.remember_agent(app)

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if origin and self.allowed_origins is not None and origin not in self.allowed_origins:
                logger.info("socketio: a page from another origin was refused")
                return False
            address = client_address(environ.get("sanic.request")) or ""
            if address and not (await self.guard.address_allowed(address)).allowed:
                logger.info("socketio: a connection over its address's rate limit was refused")
                return False
            if not isinstance(auth, dict):
                auth = None
            accepted = await rasa_connect(sid, environ, auth)
            if accepted is not False:
                self._addresses[sid] = address
            return accepted

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str, *args: Any) -> None:
            self._bound.pop(sid, None)
            self._addresses.pop(sid, None)
            await rasa_disconnect(sid)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            data = data if isinstance(data, dict) else {}
            requested = data.get("session_id")
            if is_issued(self.key, requested, data.get("session_token")):
                session_id = str(requested)
            else:
                session_id = uuid.uuid4().hex
            previous = self._bound.get(sid)
            if previous and previous != session_id and self.session_persistence:
                await _awaited(sio.leave_room(sid, previous, namespace=self.namespace))
            self._bound[sid] = session_id
            if self.session_persistence:
                await _awaited(sio.enter_room(sid, session_id, namespace=self.namespace))
            confirmed = {"session_id": session_id,
                         "session_token": session_token(self.key, session_id)}
            await sio.emit("session_confirm", confirmed, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            message = readable_message(data, self.metadata_key)
            session_id = self._bound.get(sid)
            if message is None or session_id is None:
                logger.warning("A socket.io message that is not an object with a text, or sent "
                               "before session_request, was dropped.")
                return
            named = message.get("session_id")
            if named is not None and named != session_id:
                logger.warning("A socket.io message naming another session than its socket's "
                               "was dropped.")
                return
            message["session_id"] = session_id
            address = self._addresses.get(sid)
            verdict = await self.guard.address_allowed(address)
            if not verdict.allowed:
                logger.info("socketio: an address over its rate limit was refused")
                if verdict.first_refusal:
                    output = socketio.SocketIOOutput(sio, self.bot_message_evt)
                    recipient = session_id if self.session_persistence else sid
                    await answer(UserMessage(message["message"], output, recipient), TOO_FAST,
                                 self.guard.agent)
                return
            await rasa_handle_message(sid, message)

        return webhook


def readable_message(data: Any, metadata_key: str | None) -> dict[str, Any] | None:
    """The event's data as Rasa's handler reads it, or None when it cannot be read."""
    if not isinstance(data, dict):
        return None
    text = data.get("message")
    if not isinstance(text, str) or not text.strip():
        return None
    message = {"message": text, "session_id": data.get("session_id")}
    metadata = data.get(metadata_key or "metadata")
    message[metadata_key or "metadata"] = metadata if isinstance(metadata, dict) else {}
    return message


async def _awaited(result: Any) -> None:
    if inspect.isawaitable(result):
        await result
