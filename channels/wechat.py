"""A WeChat Official Account (公众号, a 服务号 with customer-service messages) as a Rasa channel.

Rasa has no WeChat connector, so this is the smallest ``InputChannel`` that is one: a webhook
(``/webhooks/wechat/webhook``) and an ``OutputChannel`` that sends through WeChat's API. The
turn itself is Rasa's (``on_new_message``), behind the same length cap and per-sender rate limit
as every other channel (:mod:`channels.limits`), and a reply of "2" to numbered options becomes
the second button's payload as on SMS (:func:`channels.twilio.numbered_payload`, the "typed"
metadata keeps what the patient wrote).

What WeChat asks of a server, and how it is met:

- **Signature.** Every request (the GET that verifies the URL, every POST) carries
  ``signature = sha1(sorted(token, timestamp, nonce))``; anything unsigned, signed with another
  token, or with a timestamp more than five minutes from now (a replay) gets 403.
- **Five seconds.** WeChat drops the connection after 5 s and sends the message again, three
  times in all. The webhook waits for the turn at most ``REPLY_WITHIN`` (4 s), then answers
  ``success`` (WeChat's "nothing to say here") while the turn goes on; the bot's messages go
  through the customer-service message API (``/cgi-bin/message/custom/send``) whether the turn
  took 0.3 s or 30 s. Not a passive XML reply: a passive reply is one message, once, within 5 s,
  and a turn here often says two or three (a read-back, a line of progress, the next question),
  and a first turn or a busy server can take longer than 5 s; one way of sending for every reply
  is one way to test.
- **Retries.** A retried message is answered once: ``MsgId`` (for events, sender and
  ``CreateTime``, as WeChat advises) is remembered for ten minutes.
- **Access token.** Fetched from ``/cgi-bin/token`` when first needed, kept until five minutes
  before it expires, one fetch shared by concurrent senders, fetched again when WeChat says it is
  invalid or expired (errcode 40001, 40014, 42001) and the message sent again once.
- **Length.** WeChat refuses a customer-service text over 2048 bytes (errcode 45002 "content
  size out of limit"; measured by developers on developers.weixin.qq.com, it is not in the
  reference). The actions split at 600 characters on this channel (``bot/channels.py``: 600
  Chinese characters are 1,800 bytes in UTF-8), and this output splits again at 2048 bytes, at a
  line or sentence end where it can, so nothing is ever refused for length.
- **The patient's OpenID** is not the conversation id: the conversation is ``wx-`` and an HMAC
  of the OpenID keyed with the app id, so Rasa's logs, the tracker store and the screening never
  hold the OpenID; the output channel made for each message keeps it in memory to reply.
- **Messages that are not text** (voice, a photo, a sticker, a location) get a kind "please type
  your answer" in the conversation's language and no turn. ``subscribe`` (following the account)
  greets the patient, for the trial named by the QR code's scene (``qrscene_NCT06675422``) if it
  is one this site screens for, as does ``SCAN`` of such a code by a follower.
- Plaintext ("明文模式") and compatible mode only: safe mode (AES-encrypted bodies,
  ``WECHAT_ENCODING_AES_KEY``) is not implemented; the channel refuses to start with that key
  set rather than silently failing to read every message.

Credentials (``credentials.yml``, written from ``.env`` by ``bot/deploy/credentials.py``)::

    channels.wechat.WeChatInput:
      app_id: "wx..."                   # WECHAT_APP_ID
      app_secret: "..."                 # WECHAT_APP_SECRET
      token: "..."                      # WECHAT_TOKEN, as typed in the account's server settings
      api_url: "https://api.weixin.qq.com"  # WECHAT_API_URL; a test double in the e2e tests
      language: "zh"                    # WECHAT_LANGUAGE: the greeting's language on subscribe
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.messages import languages, msg
from bot.protocol import trials_dir
from channels.limits import Guard, conversation_language
from channels.twilio import numbered_payload

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.weixin.qq.com"
REPLY_WITHIN = 4.0  # seconds the webhook waits for a turn; WeChat gives up at 5
MAX_CLOCK_SKEW = 300  # seconds a signed timestamp may be from now
MAX_BODY_BYTES = 64 * 1024  # WeChat's messages are a few hundred bytes
MAX_TEXT_BYTES = 2048  # a customer-service text message (errcode 45002 above)
TOKEN_MARGIN = 300  # seconds before expiry an access token is fetched again
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid, malformed, expired access token
SEEN_SECONDS = 600
_DEEP_LINK = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

# Said to a patient who sends a voice message, a photo, a sticker...: no turn is taken. The
# locale files are another helper's; these two lines belong in them (key wechat_text_only).
# The reply to a photo, a voice message or a sticker (bot/locales/<language>.yml).
TEXT_ONLY = "text_only"


def signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's request signature: SHA-1 of the token, timestamp and nonce, sorted and joined."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def signed(token: str, args: Any, now: float | None = None) -> bool:
    """Whether the query string carries a valid signature with a fresh timestamp."""
    sent = args.get("signature") or ""
    timestamp = args.get("timestamp") or ""
    nonce = args.get("nonce") or ""
    if not (token and sent and timestamp.isascii() and timestamp.isdigit() and nonce):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        return False
    return hmac.compare_digest(signature(token, timestamp, nonce), sent.lower())


def conversation_id(app_id: str, openid: str) -> str:
    """The conversation of an OpenID: stable for the account, and not the OpenID."""
    digest = hmac.new(app_id.encode(), openid.encode(), hashlib.sha256).hexdigest()
    return f"wx-{digest[:32]}"


def parse_message(body: bytes) -> dict[str, str] | None:
    """The fields of WeChat's XML message, or None for anything else.

    A document type is refused before parsing: WeChat never sends one, and it is how entity
    expansion attacks start.
    """
    if len(body) > MAX_BODY_BYTES or b"<!" in body.replace(b"<![CDATA[", b""):
        return None
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError):
        return None
    if root.tag != "xml":
        return None
    fields = {child.tag: (child.text or "") for child in root if len(child) == 0}
    if not fields.get("FromUserName") or not fields.get("MsgType"):
        return None
    return fields


def greeting(fields: dict[str, str]) -> str:
    """``/greet`` for a follow or a QR scan, naming the QR code's trial if this site has it."""
    key = fields.get("EventKey") or ""
    trial = key.removeprefix("qrscene_")
    if trial and _DEEP_LINK.match(trial) and (trials_dir() / f"{trial}.yml").is_file():
        return "/greet" + json.dumps({"trial": trial})
    return "/greet"


def typed_number(text: str) -> str | None:
    """"2", "２" or "２。" as the number "2" (a Chinese keyboard types full-width digits)."""
    stripped = text.translate(_FULL_WIDTH_DIGITS).strip().rstrip(".。")
    if stripped.isascii() and stripped.isdigit() and len(stripped) <= 3:
        return stripped
    return None


def split_bytes(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes, cut after a line break or a sentence's
    end where one falls in the second half of a part, else between characters."""
    parts: list[str] = []
    while len(text.encode()) > limit:
        size, cut = 0, 0
        for i, char in enumerate(text):
            size += len(char.encode())
            if size > limit:
                break
            cut = i + 1
        window = text[:cut]
        ends = [window.rfind(mark) + len(mark) for mark in ("\n", "。", "！", "？", ". ", "? ")]
        best = max(ends)
        if best > cut // 2:
            cut = best
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


class RecentIds:
    """Message ids seen in the last ``seconds``, bounded: a retry is recognised."""

    def __init__(self, seconds: float = SEEN_SECONDS, max_ids: int = 100_000) -> None:
        self.seconds = seconds
        self.max_ids = max_ids
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        while self._seen and (
            len(self._seen) > self.max_ids or now - next(iter(self._seen.values())) > self.seconds
        ):
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class WeChatError(Exception):
    def __init__(self, errcode: int) -> None:
        super().__init__(f"WeChat API errcode {errcode}")
        self.errcode = errcode


class WeChatAPI:
    """WeChat's API for this account: the access token, and customer-service messages."""

    def __init__(self, app_id: str, app_secret: str, api_url: str = DEFAULT_API_URL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None
        self._session: aiohttp.ClientSession | None = None
        self.token_fetches = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def access_token(self, stale: str | None = None) -> str:
        """The cached token; a new one when there is none, it nearly expired, or it is the
        ``stale`` one WeChat just refused. Concurrent callers wait for one fetch."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            fresh = self._token is not None and self.clock() < self._expires - TOKEN_MARGIN
            if fresh and self._token != stale:
                return self._token  # type: ignore[return-value]
            params = {"grant_type": "client_credential", "appid": self.app_id,
                      "secret": self.app_secret}
            self.token_fetches += 1
            async with self._client().get(f"{self.api_url}/cgi-bin/token", params=params) as r:
                data = await r.json(content_type=None)
            if not isinstance(data, dict) or not data.get("access_token"):
                code = data.get("errcode", -1) if isinstance(data, dict) else -1
                raise WeChatError(int(code))
            self._token = str(data["access_token"])
            self._expires = self.clock() + float(data.get("expires_in") or 7200)
            return self._token

    async def send_text(self, openid: str, text: str) -> None:
        body = json.dumps({"touser": openid, "msgtype": "text", "text": {"content": text}},
                          ensure_ascii=False).encode()
        token = await self.access_token()
        for attempt in range(2):
            url = f"{self.api_url}/cgi-bin/message/custom/send"
            async with self._client().post(url, params={"access_token": token}, data=body,
                                           headers={"Content-Type": "application/json"}) as r:
                data = await r.json(content_type=None)
            code = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
            if code == 0:
                return
            if code in TOKEN_ERRORS and attempt == 0:
                token = await self.access_token(stale=token)
                continue
            raise WeChatError(code)


class WeChatOutput(OutputChannel):
    """Sends to one patient (the OpenID of the message being answered) as customer-service
    text messages; buttons were already written into the text as numbered options."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    def __init__(self, api: WeChatAPI, sender_id: str, openid: str) -> None:
        self.api = api
        self.sender_id = sender_id
        self.openid = openid

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        if recipient_id != self.sender_id:
            logger.error("wechat: a reply for another conversation was not sent")
            return
        for part in split_bytes(text):
            try:
                await self.api.send_text(self.openid, part)
            except WeChatError as error:
                # WeChat's errmsg is not logged: only its code says what went wrong.
                logger.error("wechat: a message was not sent: errcode %d", error.errcode)
                return
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                logger.error("wechat: a message was not sent: %s", type(error).__name__)
                return

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, text)


class WeChatInput(InputChannel):
    """The webhook WeChat's servers call: ``/webhooks/wechat/webhook``."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        if credentials.get("encoding_aes_key"):
            raise ValueError("WeChat's safe mode (WECHAT_ENCODING_AES_KEY) is not supported: "
                             "set the account to plaintext or compatible mode")
        return cls(
            str(credentials.get("app_id") or ""),
            str(credentials.get("app_secret") or ""),
            str(credentials.get("token") or ""),
            api_url=str(credentials.get("api_url") or DEFAULT_API_URL),
            language=str(credentials.get("language") or "zh"),
        )

    def __init__(self, app_id: str, app_secret: str, token: str,
                 api_url: str = DEFAULT_API_URL, language: str = "zh") -> None:
        if not (app_id and app_secret and token):
            raise ValueError("the WeChat channel needs app_id, app_secret and token")
        self.app_id = app_id
        self.token = token
        self.language = language
        self.api = WeChatAPI(app_id, app_secret, api_url)
        self.guard = Guard(self.name())
        self.seen = RecentIds()
        self._turns: set[asyncio.Task] = set()
        # One turn at a time per patient, in the order they wrote: the lock and its users.
        self._order: dict[str, list[Any]] = {}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wechat_webhook", __name__)
        agent_of_app: dict[str, Any] = {}

        async def numbered_reply_as_payload(message: UserMessage) -> Any:
            """A reply of "2" to numbered options is the second button's payload."""
            agent = agent_of_app.get("agent")
            number = typed_number(message.text or "")
            if agent is not None and number is not None:
                tracker = await agent.tracker_store.retrieve(message.sender_id)
                payload = numbered_payload(tracker, number)
                if payload is not None:
                    message.metadata = {**(message.metadata or {}), "typed": message.text}
                    message.text = payload
            return await on_new_message(message)

        guarded = self.guard.wrap(numbered_reply_as_payload)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            """WeChat checks the server URL once, when it is saved in the account's settings."""
            if not signed(self.token, request.args):
                return response.text("invalid signature", status=403)
            return response.text(request.args.get("echostr") or "")

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not signed(self.token, request.args):
                return response.text("invalid signature", status=403)
            agent_of_app["agent"] = getattr(request.app.ctx, "agent", None)
            self.guard.remember_agent(request.app)
            fields = parse_message(request.body or b"")
            if fields is None:
                return response.text("not a WeChat message", status=400)
            retry_key = fields.get("MsgId") or (
                f"{fields['FromUserName']}:{fields.get('CreateTime', '')}:{fields['MsgType']}")
            if not self.seen.first_time(retry_key):
                return response.text("success")
            message = self._message(fields)
            if message is None:
                return response.text("success")
            turn = asyncio.create_task(self._in_order(message, guarded))
            self._turns.add(turn)
            turn.add_done_callback(self._turns.discard)
            try:
                await asyncio.wait_for(asyncio.shield(turn), REPLY_WITHIN)
            except asyncio.TimeoutError:
                logger.info("wechat: a turn took over %.0f s; its replies follow", REPLY_WITHIN)
            return response.text("success")

        return webhook

    def _message(self, fields: dict[str, str]) -> UserMessage | None:
        """The Rasa message a WeChat message or event is, or None when there is nothing to do."""
        openid = fields["FromUserName"]
        sender = conversation_id(self.app_id, openid)
        output = WeChatOutput(self.api, sender, openid)
        kind = fields["MsgType"]
        metadata: dict[str, Any] = {}
        if kind == "text":
            text = fields.get("Content") or ""
            if not text.strip():
                return None
        elif kind == "event":
            if fields.get("Event") not in ("subscribe", "SCAN"):
                return None  # unsubscribe, menu clicks, location reports: nothing to answer
            text = greeting(fields)
            metadata["language"] = self.language  # a follow has no words to read a language from
        else:
            # A voice message, a photo, a sticker...: answered kindly, without a turn.
            text = ""
            metadata["not_text"] = kind
        return UserMessage(text, output, sender, input_channel=self.name(), metadata=metadata)

    async def _in_order(self, message: UserMessage,
                        guarded: Callable[[UserMessage], Awaitable[Any]]) -> None:
        entry = self._order.setdefault(message.sender_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                if (message.metadata or {}).get("not_text"):
                    await self._text_only(message)
                else:
                    await guarded(message)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._order[message.sender_id]

    async def _text_only(self, message: UserMessage) -> None:
        # The key is in every locale: asking for it reads the conversation's language.
        language = await conversation_language(self.guard.agent, message.sender_id, TEXT_ONLY)
        if language == "en" and self.language in languages():
            # A patient who only sent a photo has no language yet: the account's.
            language = await self._slot_or(message.sender_id, self.language)
        await message.output_channel.send_text_message(
            message.sender_id, msg(TEXT_ONLY, language))

    async def _slot_or(self, sender_id: str, default: str) -> str:
        agent = self.guard.agent
        if agent is None:
            return default
        tracker = await agent.tracker_store.retrieve(sender_id)
        return (tracker.get_slot("language") if tracker is not None else None) or default

    def get_output_channel(self) -> OutputChannel | None:
        """None: a reply needs the OpenID of the message it answers."""
        return None
