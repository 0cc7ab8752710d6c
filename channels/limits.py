"""What every connector checks before a message reaches Rasa: its length, and how often its
sender and its address have written.

Each connector hands Rasa's ``on_new_message`` through :func:`guarded` (REST, socket.io, Telegram,
Twilio build a ``UserMessage`` with their own output channel and call it). An over-long message,
or one over a rate limit, is answered here, through that output channel, in the patient's
language, and never becomes a Rasa turn: NLU, the policies and the actions never see it, nothing
is added to the tracker, so the question the patient was on is still the open one and their next
short answer is read as usual. Answering here needs no intent, no training data and no retrain,
and it costs microseconds where a 100 KB message through NLU cost 15 to 50 s.

Settings (``.env``): ``MAX_MESSAGE_CHARS`` (1000), ``RATE_LIMIT_PER_SENDER`` (60),
``RATE_LIMIT_PER_ADDRESS`` (300) messages per ``RATE_LIMIT_WINDOW_SECONDS`` (60). The buckets
live in this process, unless ``REDIS_URL`` is set (the cluster, ``make run-cluster``): then they
are in Redis (:class:`bot.ratelimit.RedisRateLimiter`), so that a sender whose messages a load
balancer spreads over several Rasa replicas has one bucket, not one per replica. The buckets are
:mod:`bot.ratelimit`'s, the study page's too.
The conversation languages the kind replies are worded in are cached the same way.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml
from rasa.core.channels.channel import UserMessage

from bot.messages import DEFAULT_LANGUAGE, LOCALES_DIR, msg
from bot.ratelimit import (
    Limiter,
    RateLimiter,
    RedisRateLimiter,
    RedisSettings,
    Verdict,
    async_client,
    rate_limiter,
)

# The buckets are bot.ratelimit's; named here too for the channels and their tests.
__all__ = [
    "Guard", "Limiter", "Limits", "RateLimiter", "RedisRateLimiter", "Verdict", "answer",
    "clean_text", "client_address", "conversation_language", "rate_limiter",
]

logger = logging.getLogger(__name__)

TOO_LONG = "message_too_long"
TOO_FAST = "messages_too_fast"

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
AgentOf = Callable[[], Any]


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from error
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


@dataclass(frozen=True)
class Limits:
    max_chars: int = 1000
    per_sender: int = 60
    per_address: int = 300
    window_seconds: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        return cls(
            max_chars=_positive_int(env, "MAX_MESSAGE_CHARS", cls.max_chars),
            per_sender=_positive_int(env, "RATE_LIMIT_PER_SENDER", cls.per_sender),
            per_address=_positive_int(env, "RATE_LIMIT_PER_ADDRESS", cls.per_address),
            window_seconds=_positive_int(env, "RATE_LIMIT_WINDOW_SECONDS", cls.window_seconds),
        )


@lru_cache(maxsize=1)
def _languages_with(key: str) -> frozenset[str]:
    """The locale files that have ``key``: only when there are several is a tracker read."""
    found = set()
    for path in LOCALES_DIR.glob("*.yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and key in data:
            found.add(path.stem)
    return frozenset(found)


LANGUAGE_TTL_SECONDS = 60.0
_language_cache: dict[str, tuple[str, float]] = {}


async def conversation_language(agent: Any, sender_id: str, key: str) -> str:
    """The language the conversation is held in (its ``language`` slot), for message ``key``.

    Reading it loads the tracker, so it is kept a minute per conversation: a flood of
    over-long messages costs one read, not one each. In the cluster (``REDIS_URL``) it is kept
    in Redis, so a language the patient changed on one replica is the one the others use.
    """
    languages = _languages_with(key)
    if agent is None or languages <= {DEFAULT_LANGUAGE}:
        return DEFAULT_LANGUAGE
    shared = RedisSettings.from_env()
    if shared is not None:
        return await _shared_language(agent, sender_id, languages, shared)
    now = time.monotonic()
    cached = _language_cache.get(sender_id)
    if cached is not None and now - cached[1] < LANGUAGE_TTL_SECONDS:
        return cached[0] if cached[0] in languages else DEFAULT_LANGUAGE
    language = await _tracker_language(agent, sender_id, languages)
    if language is None:
        return DEFAULT_LANGUAGE
    if len(_language_cache) > 10_000:
        _language_cache.clear()
    _language_cache[sender_id] = (language, now)
    return language


async def _tracker_language(agent: Any, sender_id: str, languages: frozenset[str]) -> str | None:
    try:
        tracker = await agent.tracker_store.retrieve(sender_id)
    except Exception as error:  # the kind reply must not fail because the store is down
        logger.warning("could not read a conversation's language: %s", type(error).__name__)
        return None
    language = tracker.get_slot("language") if tracker is not None else None
    return language if language in languages else DEFAULT_LANGUAGE


async def _shared_language(agent: Any, sender_id: str, languages: frozenset[str],
                           settings: RedisSettings) -> str:
    client = async_client(settings)
    key = settings.key("language", sender_id)
    try:
        cached = await client.get(key)
    except Exception as error:  # noqa: BLE001 - then read the tracker
        logger.warning("the shared language cache is unavailable: %s", type(error).__name__)
        cached = None
    if cached is not None:
        language = cached.decode("ascii", "replace")
        return language if language in languages else DEFAULT_LANGUAGE
    language = await _tracker_language(agent, sender_id, languages)
    if language is None:
        return DEFAULT_LANGUAGE
    try:
        await client.set(key, language, ex=int(LANGUAGE_TTL_SECONDS))
    except Exception as error:  # noqa: BLE001 - the reply goes out anyway
        logger.warning("the shared language cache is unavailable: %s", type(error).__name__)
    return language


async def answer(message: UserMessage, key: str, agent: Any) -> None:
    """Say message ``key`` to the patient on the channel they wrote on, outside any Rasa turn."""
    if message.output_channel is None:
        return
    language = await conversation_language(agent, message.sender_id, key)
    await message.output_channel.send_text_message(message.sender_id, msg(key, language))


# Half of a UTF-16 pair, alone: JSON can carry one ("\ud800"), but no text can be stored or shown
# with it. NUL is refused by PostgreSQL's text columns.
_UNWRITABLE = re.compile("[\ud800-\udfff]")


def clean_text(text: Any) -> Any:
    """The patient's text with what no store can keep replaced (U+FFFD) or dropped (NUL)."""
    if not isinstance(text, str):
        return text
    return _UNWRITABLE.sub("\ufffd", text).replace("\x00", "")


class Guard:
    """One connector's length cap and per-sender limit, around Rasa's ``on_new_message``."""

    def __init__(self, channel: str, limits: Limits | None = None) -> None:
        self.channel = channel
        self.limits = limits or Limits.from_env()
        self.senders = rate_limiter(self.limits.per_sender, self.limits.window_seconds,
                                    "sender")
        self.addresses = rate_limiter(self.limits.per_address, self.limits.window_seconds,
                                      "address")
        self._app: Any = None  # Rasa's Sanic app, once a request or the start-up showed it

    def too_long(self, text: Any) -> bool:
        return isinstance(text, str) and len(text) > self.limits.max_chars

    async def address_allowed(self, address: str | None) -> Verdict:
        if not address:
            return Verdict(True)
        return await self.addresses.take((self.channel, address))

    def wrap(self, on_new_message: OnNewMessage, check_sender: bool = True) -> OnNewMessage:
        """``on_new_message`` behind the length cap and, unless the connector checks it
        itself (REST answers 429), the per-sender limit."""

        async def guarded(message: UserMessage) -> Any:
            message.text = clean_text(message.text)
            if self.too_long(message.text):
                logger.info("%s: a message over %d characters was answered without a turn",
                            self.channel, self.limits.max_chars)
                await answer(message, TOO_LONG, self.agent)
                return None
            verdict = (await self.senders.take((self.channel, message.sender_id))
                       if check_sender else Verdict(True))
            if not verdict.allowed:
                logger.info("%s: a sender over its rate limit was refused", self.channel)
                if verdict.first_refusal:
                    await answer(message, TOO_FAST, self.agent)
                return None
            try:
                return await on_new_message(message)
            except Exception as error:
                # Rasa's connectors log the exception with the patient's text, and re-raise
                # it into a 500; only its type is logged here.
                logger.error("%s: handling a message failed: %s", self.channel,
                             type(error).__name__)
                return None

        return guarded

    def remember_agent(self, app: Any) -> None:
        self._app = app

    @property
    def agent(self) -> Any:
        """Rasa's agent (for the conversation's language), read when needed: it is loaded
        after the channels are made."""
        return getattr(getattr(self._app, "ctx", None), "agent", None)


def client_address(request: Any) -> str | None:
    """The client's address: the proxy's forwarded one when Sanic is told to trust a proxy
    (``SANIC_PROXIES_COUNT``, ``SANIC_FORWARDED_SECRET``), else the socket's peer."""
    return getattr(request, "remote_addr", None) or getattr(request, "ip", None) or None
