"""Rasa's REST channel, refusing what it cannot read and who should not use it.

Rasa's ``RestInput`` reads ``request.json.get(...)`` unchecked: a body that is not JSON, JSON
that is not an object, or no body at all ends in a 500 from an ``AttributeError``, and a
request without a ``sender`` joins the one conversation every such request shares, "default".
This is the smallest subclass that fixes that: one request middleware checks the request before
Rasa's handler runs (which then reads the same, already parsed body), and the handler, the
streaming and the output are Rasa's. What it adds:

- ``mode``: ``off`` (the webhook answers 404; the default when the credentials say nothing),
  ``token`` (every request carries ``Authorization: Bearer <token>``, else 401) or ``open``;
- a 4xx for a malformed request: 415 for a body that is not ``application/json``, 400 for
  invalid JSON, a body that is not an object, a missing, empty, over-long or non-string
  ``sender`` or ``message``, or ``metadata`` that is not an object;
- the channel a message is recorded under is always ``rest`` (Rasa lets the body name one);
- limits (:mod:`channels.limits`): a message over ``MAX_MESSAGE_CHARS`` is answered kindly
  without a turn, and a sender or a client address over its rate limit gets 429.

Credentials (written from ``REST_CHANNEL`` and ``REST_CHANNEL_TOKEN`` by
``bot/deploy/credentials.py``)::

    channels.rest.RestInput:
      mode: token
      token: "..."
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import rest
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage, SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.messages import msg
from channels.limits import TOO_FAST, Guard, client_address

logger = logging.getLogger(__name__)

MODES = ("off", "token", "open")
MAX_SENDER_BYTES = 128


class RestInput(rest.RestInput):
    """Rasa's REST input (``/webhooks/rest/webhook``) with the checks above."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(mode=str(credentials.get("mode") or "off"),
                   token=credentials.get("token") or None)

    def __init__(self, mode: str = "off", token: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"the REST channel's mode is one of {', '.join(MODES)}, not {mode!r}")
        if mode == "token" and not token:
            raise ValueError("the REST channel in token mode needs a token")
        self.mode = mode
        self.token = token
        self.guard = Guard(self.name())

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(self.guard.wrap(on_new_message, check_sender=False))

        @webhook.middleware("request")
        async def check_request(request: Request) -> HTTPResponse | None:
            if not request.path.endswith("/webhook"):
                return None
            if self.mode == "off":
                return response.json({"error": "the REST channel is off"}, status=404)
            if self.mode == "token" and not self._authorized(request):
                return response.json({"error": "a valid bearer token is required"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
            self.guard.remember_agent(request.app)
            sender = checked_body(request)["sender"]
            for limiter, key in ((self.guard.addresses, client_address(request)),
                                 (self.guard.senders, sender)):
                verdict = await limiter.take((self.name(), key)) if key else None
                if verdict is not None and not verdict.allowed:
                    logger.info("rest: a request over its rate limit got 429")
                    return response.json(
                        [{"recipient_id": sender, "text": msg(TOO_FAST)}], status=429,
                        headers={"Retry-After": str(verdict.retry_after)},
                    )
            return None

        return webhook

    def _authorized(self, request: Request) -> bool:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not sent or not self.token:
            return False
        return hmac.compare_digest(sent.strip().encode(), self.token.encode())


def checked_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or the 4xx that says what is wrong with it (never its text)."""
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise SanicException("the body must be application/json", status_code=415)
    try:
        body = request.json
    except InvalidUsage:
        raise InvalidUsage("the body is not valid JSON") from None
    except (ValueError, RecursionError):  # e.g. an integer of more digits than Python reads
        raise InvalidUsage("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidUsage("the body must be a JSON object")
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip():
        raise InvalidUsage("'sender' must be a non-empty string")
    # Counted in UTF-8 bytes: the stored conversation id is sealed (bot/sealed.py), which leaves
    # room for about 173 bytes of id.
    if len(sender.encode("utf-8", "replace")) > MAX_SENDER_BYTES or not sender.isprintable():
        raise InvalidUsage(f"'sender' must be at most {MAX_SENDER_BYTES} bytes of printable text")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise InvalidUsage("'message' must be a non-empty string")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidUsage("'metadata' must be a JSON object")
    return body
