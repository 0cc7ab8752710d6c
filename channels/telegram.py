"""Rasa's Telegram connector, with a configurable Bot API server and an authenticated webhook.

Credentials (``credentials.yml``, generated from ``.env`` by ``bot/deploy/credentials.py``)::

    channels.telegram.TelegramInput:
      access_token: "123456:ABC..."        # from @BotFather
      verify: "my_prescreen_bot"           # the bot's username
      webhook_url: "https://example.org/webhooks/telegram/webhook"
      secret_token: "..."                  # optional; Telegram sends it back with every update
      api_url: "http://127.0.0.1:8081"     # optional; a self-hosted Bot API server or a test double
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.bot.api import Methods, TelegramAPIServer
from aiogram.types import User
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels import telegram
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.protocol import trials_dir
from channels.limits import Guard

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(\S+))?\s*$")
# Telegram's rules for a deep-link parameter (t.me/<bot>?start=<parameter>).
_DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Buttons go in one row unless there are many or a title is long (a phone shows ~20 characters).
_ROW_MAX_BUTTONS = 3
_ROW_MAX_TITLE = 18


def greeting_for_start(text: str) -> str:
    """Telegram's ``/start`` (sent when a patient opens the bot) as this bot's greeting.

    A deep link ``t.me/<bot>?start=NCT06675422`` arrives as ``/start NCT06675422`` and names the
    trial, like a study page's ``/greet{"trial": ...}``; a trial this site does not screen for is
    left out, so the patient is greeted for the default trial. Any other text is left as it is.
    """
    match = _START.match(text.strip())
    if match is None:
        return text
    trial = match.group(1)
    if trial and _DEEP_LINK.match(trial) and (trials_dir() / f"{trial}.yml").is_file():
        return "/greet" + json.dumps({"trial": trial})
    return "/greet"


class TelegramOutput(telegram.TelegramOutput):
    """Rasa's Telegram output on a chosen Bot API server, registering the webhook's secret."""

    def __init__(
        self,
        access_token: str | None,
        api_url: str | None = None,
        secret_token: str | None = None,
    ) -> None:
        super().__init__(access_token)
        if api_url:
            self.server = TelegramAPIServer.from_base(api_url)
        self.secret_token = secret_token
        self._me: User | None = None

    async def set_webhook(self, url: str, **kwargs: Any) -> bool:
        if not self.secret_token:
            return await super().set_webhook(url, **kwargs)
        # aiogram 2.15 predates Bot API 6.1's secret_token, so the call is made directly.
        payload = {"url": url, "secret_token": self.secret_token}
        return bool(await self.request(Methods.SET_WEBHOOK, payload))

    async def get_me(self) -> User:
        """The bot's identity: Rasa checks it on every update; it does not change."""
        if self._me is None:
            self._me = await super().get_me()
        return self._me

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        if button_type is None:
            many = len(buttons) > _ROW_MAX_BUTTONS
            long = any(len(str(b.get("title", ""))) > _ROW_MAX_TITLE for b in buttons)
            button_type = "vertical" if many or long else "inline"
        await super().send_text_with_buttons(recipient_id, text, buttons, button_type, **kwargs)


class TelegramInput(telegram.TelegramInput):
    """Rasa's Telegram input: the same webhook and the same handling, plus the settings above."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials.get("access_token"),
            credentials.get("verify"),
            credentials.get("webhook_url"),
            api_url=credentials.get("api_url") or None,
            secret_token=credentials.get("secret_token") or None,
        )

    def __init__(
        self,
        access_token: str | None,
        verify: str | None,
        webhook_url: str | None,
        debug_mode: bool = True,
        api_url: str | None = None,
        secret_token: str | None = None,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode)
        self.api_url = api_url
        self.secret_token = secret_token
        self._output: TelegramOutput | None = None  # the webhook's, made with its blueprint
        self.guard = Guard(self.name())
        self._acks: set[asyncio.Task] = set()  # callback answers in flight

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def greet_on_start(message: UserMessage) -> Any:
            message.text = greeting_for_start(message.text or "")
            return await on_new_message(message)

        webhook = super().blueprint(self.guard.wrap(greet_on_start))

        @webhook.middleware("request")
        async def check_secret(request: Request) -> HTTPResponse | None:
            if not self.secret_token or not request.path.endswith("/webhook"):
                return None
            sent = request.headers.get(SECRET_HEADER, "")
            if hmac.compare_digest(sent.encode(), self.secret_token.encode()):
                return None
            return response.text("forbidden", status=403)

        @webhook.middleware("request")
        async def check_update(request: Request) -> HTTPResponse | None:
            """Garbage gets 400; an update Rasa cannot read (a photo, a member change) gets
            200 at once, or Telegram would send it again and again; Rasa's handler, given
            either, raises into a 500."""
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            self.guard.remember_agent(request.app)
            verdict = update_kind(request.body)
            if verdict == BAD:
                return response.text("not a Telegram update", status=400)
            if verdict == IGNORED:
                return response.text("success")
            return None

        @webhook.middleware("request")
        async def acknowledge_button(request: Request) -> None:
            if request.method == "POST" and request.path.endswith("/webhook"):
                self._acknowledge(callback_query_id(request.body))

        return webhook

    def _acknowledge(self, query_id: str | None) -> None:
        """Answer a button tap at once: until then the patient's Telegram shows it loading.

        Rasa's connector never answers them. The answer runs beside the patient's turn, not
        before it, so a slow Bot API does not hold up the reply.
        """
        if query_id is None or self._output is None:
            return
        task = asyncio.create_task(_answer_callback(self._output, query_id))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    def get_output_channel(self) -> TelegramOutput:
        channel = TelegramOutput(self.access_token, self.api_url, self.secret_token)
        self._output = channel
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # At start-up, before the server's loop runs: register the webhook, as Rasa does.
            try:
                asyncio.run(_register_webhook(channel, self.webhook_url))
            except TelegramAPIError as error:
                raise RasaException(f"Failed to set channel webhook: {error}") from error
        return channel


BAD, IGNORED, READABLE = "bad", "ignored", "readable"


def _chat_id(message: Any) -> bool:
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    return isinstance(chat_id, int) and not isinstance(chat_id, bool)


def update_kind(body: bytes | str) -> str:
    """``BAD`` for a body that is not a Telegram update, ``IGNORED`` for an update without a
    text, a button tap or a location in a chat (what Rasa's connector reads), else
    ``READABLE``."""
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):
        return BAD
    if not isinstance(update, dict):
        return BAD
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return BAD
    query = update.get("callback_query")
    if query is not None:
        message = query.get("message") if isinstance(query, dict) else None
        ok = isinstance(query, dict) and isinstance(query.get("data"), str) and _chat_id(message)
        return READABLE if ok else IGNORED
    edited = update.get("edited_message")
    if edited is not None:
        ok = _chat_id(edited) and isinstance(edited.get("text"), str)
        return READABLE if ok else IGNORED
    message = update.get("message")
    if not _chat_id(message):
        return IGNORED
    location = message.get("location")
    if isinstance(message.get("text"), str):
        return READABLE
    if isinstance(location, dict) and all(
        isinstance(location.get(k), (int, float)) for k in ("longitude", "latitude")
    ):
        return READABLE
    return IGNORED


def callback_query_id(body: bytes | str) -> str | None:
    """The id of the button tap a webhook update carries, if it is one."""
    try:
        update = json.loads(body)
    except ValueError:
        return None
    query = update.get("callback_query") if isinstance(update, dict) else None
    query_id = query.get("id") if isinstance(query, dict) else None
    return str(query_id) if query_id else None


async def _answer_callback(channel: TelegramOutput, query_id: str) -> None:
    try:
        await channel.answer_callback_query(query_id)
    except TelegramAPIError as error:  # an old tap (over 15 minutes) can no longer be answered
        logger.warning("could not answer a Telegram button tap: %s", type(error).__name__)


async def _register_webhook(channel: TelegramOutput, url: str | None) -> None:
    try:
        await channel.set_webhook(url or "")
    finally:
        # The HTTP session belongs to this short-lived loop; the server's loop opens its own.
        await channel.close()
