"""The channels' state shared through Redis (the cluster's ``REDIS_URL``): two rate limiters, as
two Rasa replicas would have, count one sender in one bucket; the bucket's key names no patient;
replicas starting together agree on one socket.io session key. On the Redis these machines run
(127.0.0.1:6379, ``TEST_REDIS_URL`` for another), under a key prefix of the test's own, deleted
afterwards."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import crypto
from channels import shared_state
from channels.limits import RateLimiter, RedisRateLimiter, rate_limiter
from channels.shared_state import RedisSettings
from channels.socketio import session_key

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture()
def redis_settings(redis_key_prefix: str,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisSettings]:
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    crypto.forget_keys()
    settings = RedisSettings(REDIS_URL, redis_key_prefix)
    monkeypatch.setenv("REDIS_URL", settings.url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", settings.prefix)
    try:
        yield settings
    finally:
        shared_state._clients.clear()
        crypto.forget_keys()


def _run(coroutine):  # type: ignore[no-untyped-def]
    shared_state._clients.clear()  # a client is bound to the loop it first ran on
    return asyncio.run(coroutine)


def test_two_replicas_count_one_sender_in_one_bucket(redis_settings: RedisSettings) -> None:
    import redis

    first = rate_limiter(3, 60, "sender")
    second = rate_limiter(3, 60, "sender")
    assert isinstance(first, RedisRateLimiter)

    async def alternate() -> list:
        return [await (first if n % 2 else second).take(("rest", "+8613900005678"))
                for n in range(5)]

    verdicts = _run(alternate())
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert verdicts[3].first_refusal and not verdicts[4].first_refusal
    assert verdicts[3].retry_after == 20  # one message refills in 60 s / 3
    other = _run(first.take(("rest", "+8613900009999")))
    assert other.allowed  # another sender has a bucket of its own
    client = redis.Redis.from_url(REDIS_URL)
    keys = [k.decode() for k in client.scan_iter(f"{redis_settings.prefix}:*")]
    assert len(keys) == 2 and all(k.startswith(f"{redis_settings.prefix}:rate:sender:")
                                  for k in keys)
    assert not any("8613900005678" in k for k in keys)
    assert 0 < client.ttl(keys[0]) <= 61  # a full bucket is forgotten
    client.close()


def test_without_redis_the_buckets_stay_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert isinstance(rate_limiter(3, 60, "sender"), RateLimiter)


def test_an_unreachable_redis_lets_messages_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    crypto.forget_keys()
    limiter = RedisRateLimiter(1, 60, RedisSettings("redis://127.0.0.1:9/0", "down"), "sender")
    try:
        assert [_run(limiter.take("a")).allowed for _ in range(3)] == [True, True, True]
    finally:
        shared_state._clients.clear()
        crypto.forget_keys()


def test_replicas_starting_together_share_one_session_key(
    redis_settings: RedisSettings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("SOCKETIO_SESSION_KEY", raising=False)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: session_key(tmp_path / "unused"), range(8)))
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert not (tmp_path / "unused").exists()  # the cluster's key is Redis's, not a file
    monkeypatch.setenv("SOCKETIO_SESSION_KEY", "k" * 40)
    assert session_key(tmp_path / "unused") == b"k" * 40  # the configured key wins
