"""Token buckets for every entry point: the channels' guard (``channels.limits``), the study
page's forms and its private notes (``bot.site``). One rule in one place, with no Rasa import,
so that ``bot/`` can use it.

A bucket holds ``limit`` takes at once and refills at ``limit`` per ``window_seconds``: a
patient who taps answers quickly spends from it and it refills as they read; a script that
floods empties it and is refused until it refills.

Buckets live in this process (:class:`RateLimiter`), unless ``REDIS_URL`` is set (the cluster,
``make run-cluster``): then they are in Redis (:class:`RedisRateLimiter`), under
``REDIS_KEY_PREFIX``, so that a sender or an address a load balancer spreads over several
replicas (Rasa's or the site's) has one bucket, not one per replica.

What names a bucket (a phone number, a Telegram chat, a client address) is a patient's, so it
never reaches Redis as it is: a key is the SHA-256 of its deterministic encryption under the
data key (:func:`bot.crypto.encrypt_deterministic`), the same on every replica that has the
same DATA_KEYS, and unreadable without them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.crypto import encrypt_deterministic

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "prescreen"
_PREFIX = re.compile(r"^[A-Za-z0-9]{1,64}$")  # Rasa's Redis lock store takes letters and digits


@dataclass(frozen=True)
class RedisSettings:
    url: str
    prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RedisSettings | None:
        """The cluster's Redis, or None when ``REDIS_URL`` is empty (state stays in-process)."""
        env = os.environ if env is None else env
        url = (env.get("REDIS_URL") or "").strip()
        if not url:
            return None
        prefix = (env.get("REDIS_KEY_PREFIX") or "").strip() or DEFAULT_PREFIX
        if not _PREFIX.match(prefix):
            raise ValueError("REDIS_KEY_PREFIX must be 1 to 64 letters or digits")
        return cls(url, prefix)

    def key(self, kind: str, name: Any = None) -> str:
        """``<prefix>:<kind>`` or ``<prefix>:<kind>:<digest of name>``."""
        if name is None:
            return f"{self.prefix}:{kind}"
        sealed = encrypt_deterministic(repr(name))
        return f"{self.prefix}:{kind}:{hashlib.sha256(sealed.encode()).hexdigest()[:40]}"


_clients: dict[str, Any] = {}
_sync_clients: dict[str, Any] = {}
_sync_lock = threading.Lock()


def async_client(settings: RedisSettings) -> Any:
    """One ``redis.asyncio`` client per URL in this process (it binds to the running loop on
    first use: Rasa's server has one). Short timeouts: a check must not hang a turn."""
    client = _clients.get(settings.url)
    if client is None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            settings.url, socket_timeout=2, socket_connect_timeout=2
        )
        _clients[settings.url] = client
    return client


def shared_sync_client(settings: RedisSettings) -> Any:
    """One blocking client per URL in this process, for a threaded WSGI server (the study page
    under waitress: redis-py's connection pool is thread-safe). Short timeouts, as above."""
    with _sync_lock:
        client = _sync_clients.get(settings.url)
        if client is None:
            import redis

            client = redis.Redis.from_url(settings.url, socket_timeout=2,
                                          socket_connect_timeout=2)
            _sync_clients[settings.url] = client
        return client


def sync_client(settings: RedisSettings) -> Any:
    """A blocking client of its own, for start-up only (never inside a request)."""
    import redis

    return redis.Redis.from_url(settings.url, socket_timeout=5, socket_connect_timeout=5)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    first_refusal: bool = False  # the first take refused since the key was last allowed
    retry_after: int = 0  # when refused: seconds until the bucket has a take again


class RateLimiter:
    """Token buckets by key, in this process. Buckets that are full again are dropped once
    there are many, so memory stays bounded by the keys active in one window. A lock makes it
    safe under a threaded server (the site's waitress); on an event loop it is never contended.
    """

    def __init__(self, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000) -> None:
        self.limit = float(limit)
        self.rate = limit / window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Any, tuple[float, float, bool]] = {}  # tokens, when, refused
        self._lock = threading.Lock()

    def check(self, key: Any) -> Verdict:
        """Take one from ``key``'s bucket, or say when it will have one (``retry_after``)."""
        with self._lock:
            now = self.clock()
            tokens, then, refused = self._buckets.get(key, (self.limit, now, False))
            tokens = min(self.limit, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._store(key, (tokens - 1, now, False), now)
                return Verdict(True)
            self._store(key, (tokens, now, True), now)
            return Verdict(False, first_refusal=not refused, retry_after=self._wait(tokens))

    def allow(self, key: Any) -> bool:
        return self.check(key).allowed

    def retry_after(self, key: Any) -> int:
        with self._lock:
            tokens, _then, _refused = self._buckets.get(key, (self.limit, 0.0, False))
        return self._wait(tokens)

    async def take(self, key: Any) -> Verdict:
        """:meth:`check`, for an event loop (the interface the Redis one has)."""
        return self.check(key)

    def _wait(self, tokens: float) -> int:
        return max(1, int((1 - tokens) / self.rate + 0.999))

    def _store(self, key: Any, value: tuple[float, float, bool], now: float) -> None:
        self._buckets[key] = value
        if len(self._buckets) > self.max_keys:
            self._buckets = {
                k: v for k, v in self._buckets.items()
                if v[0] + (now - v[1]) * self.rate < self.limit
            }


# One token bucket in a Redis hash, updated atomically: the tokens, when they were counted
# (Redis's clock, so replicas whose clocks differ count alike) and whether the last take was
# refused. A bucket left alone for a window is full again, so it expires then.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'when', 'refused')
local tokens = tonumber(b[1]) or limit
local before = tonumber(b[2]) or now
local refused = b[3] == '1'
tokens = math.min(limit, tokens + math.max(0, now - before) * rate)
local allowed, first, retry = 0, 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
  refused = false
else
  if not refused then first = 1 end
  refused = true
  retry = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'when', tostring(now),
           'refused', refused and '1' or '0')
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {allowed, first, retry}
"""


class RedisRateLimiter:
    """:class:`RateLimiter`'s buckets in Redis, shared by every replica.

    Keys are ``<prefix>:rate:<name>:<digest>`` (no patient's id or address in the clear). When
    Redis cannot be reached the take is let through and a warning logged: a patient is never
    refused because the limiter is down.
    """

    def __init__(self, limit: int, window_seconds: float, settings: RedisSettings,
                 name: str) -> None:
        self.limit = limit
        self.rate = limit / window_seconds
        self.ttl = int(window_seconds) + 1
        self.settings = settings
        self.name = name

    def _args(self, key: Any) -> tuple[Any, ...]:
        return (TAKE_SCRIPT, 1, self.settings.key(f"rate:{self.name}", key),
                self.limit, repr(self.rate), self.ttl)

    async def take(self, key: Any) -> Verdict:
        """One take, on an event loop (Rasa's channels)."""
        try:
            allowed, first, retry = await async_client(self.settings).eval(*self._args(key))
        except Exception as error:  # noqa: BLE001 - fail open, say so
            logger.warning("the shared rate limiter is unavailable: %s", type(error).__name__)
            return Verdict(True)
        return Verdict(bool(allowed), bool(first), int(retry))

    def check(self, key: Any) -> Verdict:
        """One take, blocking (the study page's request threads)."""
        try:
            allowed, first, retry = shared_sync_client(self.settings).eval(*self._args(key))
        except Exception as error:  # noqa: BLE001 - fail open, say so
            logger.warning("the shared rate limiter is unavailable: %s", type(error).__name__)
            return Verdict(True)
        return Verdict(bool(allowed), bool(first), int(retry))

    def allow(self, key: Any) -> bool:
        return self.check(key).allowed


Limiter = RateLimiter | RedisRateLimiter


def rate_limiter(limit: int, window_seconds: float, name: str,
                 settings: RedisSettings | None = None) -> Limiter:
    """In Redis when the cluster's ``REDIS_URL`` is set, else in this process. ``name`` keeps
    one limit's buckets apart from another's in Redis (``sender``, ``site_form`` ...)."""
    settings = settings or RedisSettings.from_env()
    if settings is None:
        return RateLimiter(limit, window_seconds)
    return RedisRateLimiter(limit, window_seconds, settings, name)
