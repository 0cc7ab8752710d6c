"""State the channels share between Rasa replicas, in Redis, when ``REDIS_URL`` is set.

A single ``bot run`` keeps its channels' state in the process: the rate limiters' buckets, the
conversation languages the kind replies use, the socket.io session key (from a file). Behind a
load balancer each replica would count on its own (a sender spread over two replicas gets twice
its limit) and one replica would refuse the sessions another issued. With ``REDIS_URL`` (the
cluster's, see docs/scaling.md) they live in Redis instead, under ``REDIS_KEY_PREFIX`` (the lock
store's prefix too), so that every replica sees the same.

What names a bucket (a phone number, a Telegram chat, a client address) is a patient's, so it
never reaches Redis as it is: a key is the SHA-256 of its deterministic encryption under the
data key (:func:`bot.crypto.encrypt_deterministic`), the same on every replica that has the
same DATA_KEYS, and unreadable without them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.crypto import encrypt_deterministic

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


def async_client(settings: RedisSettings) -> Any:
    """One ``redis.asyncio`` client per URL in this process (it binds to the running loop on
    first use: Rasa's server has one). Short timeouts: a channel check must not hang a turn."""
    client = _clients.get(settings.url)
    if client is None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            settings.url, socket_timeout=2, socket_connect_timeout=2
        )
        _clients[settings.url] = client
    return client


def sync_client(settings: RedisSettings) -> Any:
    """A blocking client, for start-up only (never inside a request)."""
    import redis

    return redis.Redis.from_url(settings.url, socket_timeout=5, socket_connect_timeout=5)
