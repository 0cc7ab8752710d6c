"""State the channels share between Rasa replicas, in Redis, when ``REDIS_URL`` is set.

A single ``bot run`` keeps its channels' state in the process: the rate limiters' buckets, the
conversation languages the kind replies use, the socket.io session key (from a file). Behind a
load balancer each replica would count on its own (a sender spread over two replicas gets twice
its limit) and one replica would refuse the sessions another issued. With ``REDIS_URL`` (the
cluster's, see docs/scaling.md) they live in Redis instead, under ``REDIS_KEY_PREFIX`` (the lock
store's prefix too), so that every replica sees the same.

The settings, the clients and the key digesting (no patient's id or address reaches Redis in
the clear) are :mod:`bot.ratelimit`'s, which the study page uses too; they are named here for
the channels.
"""

from __future__ import annotations

from bot.ratelimit import (
    DEFAULT_PREFIX,
    RedisSettings,
    _clients,
    async_client,
    sync_client,
)

__all__ = ["DEFAULT_PREFIX", "RedisSettings", "_clients", "async_client", "sync_client"]
