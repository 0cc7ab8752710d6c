"""Rasa's Twilio connector (SMS and WhatsApp), with signed webhooks and a configurable API URL.

Credentials (``credentials.yml``, generated from ``.env`` by ``bot/deploy/credentials.py``)::

    channels.twilio.TwilioInput:
      account_sid: "AC..."
      auth_token: "..."
      twilio_number: "+15551234567"          # SMS replies come from this number
      whatsapp_number: "whatsapp:+14155238886"  # optional; WhatsApp replies come from this one
      webhook_url: "https://example.org/webhooks/twilio/webhook"  # exactly as in Twilio's console
      api_url: "http://127.0.0.1:8082"       # optional; a test double for api.twilio.com

Every inbound webhook must carry a valid ``X-Twilio-Signature`` (an HMAC of ``webhook_url`` and
the form fields with the auth token); anything else gets 403 and reaches no conversation. Without
``webhook_url`` the URL the request arrived at is used, which is only right when no proxy sits in
front of Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import twilio
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from channels.limits import Guard

logger = logging.getLogger(__name__)
# twilio's HTTP client logs a dozen lines at INFO for every message sent; its warnings stay.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP = "whatsapp:"


def numbered_payload(tracker: Any, text: str) -> str | None:
    """The payload of button number ``text`` of the bot's last message, if it had buttons."""
    if tracker is None:
        return None
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return None  # the patient already replied to the last buttons
        if isinstance(event, BotUttered):
            buttons = (event.data or {}).get("buttons") or []
            index = int(text.strip()) - 1
            if buttons and 0 <= index < len(buttons):
                return buttons[index].get("payload")
            if buttons:
                return None
    return None


def readable_form(form: Any) -> bool:
    """A message Rasa's connector can read: from someone, with a body or a location."""
    sender = form.get("From")
    if not isinstance(sender, str) or not sender.strip():
        return False
    if isinstance(form.get("Body"), str):
        return True
    return bool(form.get("Latitude") and form.get("Longitude"))


def whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP) else f"{WHATSAPP}{number}"


class TwilioOutput(twilio.TwilioOutput):
    """Rasa's Twilio output; the API call runs in a worker thread (twilio's client blocks)."""

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        api_url: str | None = None,
        whatsapp_number: str | None = None,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        if api_url:
            self.api.base_url = api_url.rstrip("/")
        self.whatsapp_number = whatsapp_number

    def sender_for(self, recipient: str) -> str | None:
        """A WhatsApp patient is answered from the WhatsApp number, an SMS patient by SMS."""
        if recipient.startswith(WHATSAPP):
            number = self.whatsapp_number or self.twilio_number
            return whatsapp_address(number) if number else None
        return self.twilio_number

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """SMS has no buttons: the bot already wrote them into the text as numbered options."""
        await self.send_text_message(recipient_id, text)

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        data = dict(message_data)
        if not data.get("messaging_service_sid"):
            data["from_"] = self.sender_for(str(data.get("to", "")))
        try:
            return await asyncio.to_thread(self.messages.create, **data)
        except TwilioRestException as error:
            # Twilio's error text can quote the patient's number: only its codes are logged.
            logger.error("Twilio did not take the message: HTTP %s, error code %s",
                         error.status, error.code)
            return None


class TwilioInput(twilio.TwilioInput):
    """Rasa's Twilio input: the same webhook and the same handling, for signed requests only."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        return cls(
            credentials.get("account_sid"),
            credentials.get("auth_token"),
            credentials.get("twilio_number"),
            api_url=credentials.get("api_url") or None,
            whatsapp_number=credentials.get("whatsapp_number") or None,
            webhook_url=credentials.get("webhook_url") or None,
        )

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        debug_mode: bool = True,
        api_url: str | None = None,
        whatsapp_number: str | None = None,
        webhook_url: str | None = None,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number, debug_mode)
        self.api_url = api_url
        self.whatsapp_number = whatsapp_number
        self.webhook_url = webhook_url
        self.guard = Guard(self.name())

    def is_signed(self, request: Request) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature or not self.auth_token:
            return False
        url = self.webhook_url or request.url
        if RequestValidator(self.auth_token).validate(url, request.form, signature):
            return True
        if not self.webhook_url:
            logger.warning(
                "A Twilio webhook's signature does not match %s: behind a proxy, set "
                "TWILIO_WEBHOOK_URL to the URL in Twilio's console.", url
            )
        return False

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        agent_of_app: dict[str, Any] = {}

        async def numbered_reply_as_payload(message: UserMessage) -> Any:
            """A reply of "2" to numbered options is the second button's payload, as a tap
            on that button would have sent it."""
            agent = agent_of_app.get("agent")
            typed = (message.text or "").strip()
            # ASCII digits only: "²" is a digit to str.isdigit but not to int().
            if agent is not None and typed.isascii() and typed.isdigit() and len(typed) <= 3:
                tracker = await agent.tracker_store.retrieve(message.sender_id)
                payload = numbered_payload(tracker, message.text or "")
                if payload is not None:
                    # What the patient typed is kept, for the answer "as typed".
                    message.metadata = {**(message.metadata or {}), "typed": message.text}
                    message.text = payload
            return await on_new_message(message)

        webhook = super().blueprint(self.guard.wrap(numbered_reply_as_payload))

        @webhook.middleware("request")
        async def check_signature(request: Request) -> HTTPResponse | None:
            agent_of_app["agent"] = getattr(request.app.ctx, "agent", None)
            self.guard.remember_agent(request.app)
            if request.method != "POST":
                return None
            if not self.is_signed(request):
                return response.text("invalid signature", status=403)
            if not readable_form(request.form):
                # Rasa's handler would raise on a missing Body into a 500.
                return response.text("not a Twilio message", status=400)
            return None

        return webhook

    def get_output_channel(self) -> TwilioOutput:
        return TwilioOutput(
            self.account_sid,
            self.auth_token,
            self.twilio_number,
            api_url=self.api_url,
            whatsapp_number=self.whatsapp_number,
        )
