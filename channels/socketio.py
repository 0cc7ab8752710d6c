"""Rasa's socket.io connector (the study page's chat widget), with session persistence that works
and session ids that cannot name another channel's conversation.

- Rasa 3.6 calls ``sio.enter_room(...)`` without ``await``; since python-socketio 5.10 it is a
  coroutine, so the conversation's room is never joined and, with ``session_persistence: true``,
  no reply reaches the browser (RasaHQ/rasa#13027, still open). The ``session_request`` handler
  is registered again with the call awaited.
- Rasa takes the browser's ``session_id`` as the conversation id. A conversation id is shared by
  every channel, so a browser that sent a Telegram chat id or a phone number as its session id
  would read and write that patient's conversation. Here a session id is a random id the server
  issued (32 hex digits); anything else gets a new one, and messages naming one are dropped.

Everything else (events, output, metadata) is Rasa's. Credentials::

    channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

logger = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def is_session_id(value: Any) -> bool:
    """True for an id this server issues (``uuid4().hex``)."""
    return isinstance(value, str) and _SESSION_ID.match(value) is not None


class SocketIOInput(socketio.SocketIOInput):
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        sio = self.sio
        if sio is None:  # pragma: no cover - Rasa's blueprint() always sets it
            raise RuntimeError("Rasa's socket.io blueprint did not create its server")
        namespace = self.namespace or "/"
        rasa_handle_message = sio.handlers[namespace][self.user_message_evt]

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            requested = (data or {}).get("session_id")
            session_id = requested if is_session_id(requested) else uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, session_id, namespace=self.namespace)
                if inspect.isawaitable(entered):
                    await entered
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: dict[str, Any]) -> None:
            if self.session_persistence and not is_session_id((data or {}).get("session_id")):
                logger.warning("A socket.io message without a session id this server issued "
                               "was dropped; the client must send session_request first.")
                return
            await rasa_handle_message(sid, data)

        return webhook
