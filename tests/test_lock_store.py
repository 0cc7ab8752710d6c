"""The cluster's lock store: one conversation's turns run one at a time, whichever replica takes
them, on the Redis these machines run (127.0.0.1:6379, ``TEST_REDIS_URL`` for another), under a
key prefix of the test's own, deleted afterwards.

Rasa's own ``RedisLockStore`` reads a conversation's lock, changes it and writes it back, so a
replica that takes a ticket between another replica's read and write can end up with the same
ticket number, and both run the conversation's turn at once. The first two tests put a second
replica's ticket exactly there; the last runs real processes against each other."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

import pytest
from rasa.core.lock_store import RedisLockStore

from bot import crypto
from channels.lock_store import AtomicRedisLockStore, conversation_digest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture()
def prefix(redis_key_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    crypto.forget_keys()
    yield redis_key_prefix
    crypto.forget_keys()


def _store(cls: type, prefix: str) -> Any:
    import redis

    url = redis.connection.parse_url(REDIS_URL)
    return cls(host=url.get("host", "127.0.0.1"), port=url.get("port", 6379),
               db=url.get("db", 0), key_prefix=prefix)


def _ticket_taken_while_reading(store: Any, other: Any, conversation: str, hook: str) -> None:
    """Make ``other`` (the second replica) take a ticket right after ``store`` reads the lock,
    before ``store`` writes it back."""
    original = getattr(store, hook)
    done = []

    def read_then_let_the_other_in(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        if not done:
            done.append(other.issue_ticket(conversation))
        return found

    setattr(store, hook, read_then_let_the_other_in)


def test_rasas_own_store_gives_two_replicas_the_same_ticket(prefix: str) -> None:
    """Why the subclass exists: the interleaving below gives both replicas ticket 0."""
    first, second = _store(RedisLockStore, prefix), _store(RedisLockStore, prefix)
    _ticket_taken_while_reading(first, second, "conversation-1", "get_lock")
    mine = first.issue_ticket("conversation-1")
    lock = first.get_lock("conversation-1")
    assert mine == 0 and not lock.is_locked(mine)
    assert [t.number for t in lock.tickets] == [0]  # the other replica's ticket 0 was lost


def test_a_ticket_taken_between_read_and_write_is_a_later_one(prefix: str) -> None:
    first, second = _store(AtomicRedisLockStore, prefix), _store(AtomicRedisLockStore, prefix)
    _ticket_taken_while_reading(first, second, "conversation-1", "_loads")
    mine = first.issue_ticket("conversation-1")
    lock = first.get_lock("conversation-1")
    assert mine == 1  # the other replica's write came first: this read was done again
    assert [t.number for t in lock.tickets] == [0, 1]
    assert lock.is_locked(mine) and not lock.is_locked(0)


def test_finishing_a_turn_keeps_a_ticket_taken_meanwhile(prefix: str) -> None:
    """Rasa's cleanup removes its ticket, then asks whether anyone waits, then deletes: a ticket
    taken in between was deleted with the lock."""
    first, second = _store(AtomicRedisLockStore, prefix), _store(AtomicRedisLockStore, prefix)
    mine = first.issue_ticket("conversation-1")
    _ticket_taken_while_reading(first, second, "conversation-1", "_loads")
    first.cleanup("conversation-1", mine)
    lock = second.get_lock("conversation-1")
    assert lock is not None and [t.number for t in lock.tickets] == [1]
    assert not lock.is_locked(1)
    second.cleanup("conversation-1", 1)
    assert second.get_lock("conversation-1") is None


def test_redis_holds_no_conversation_id_in_the_clear(prefix: str) -> None:
    import redis

    store = _store(AtomicRedisLockStore, prefix)
    store.issue_ticket("wechat-oPatient123")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k.decode() for k in client.scan_iter(f"{prefix}:*")]
        assert keys == [store.key_prefix + conversation_digest("wechat-oPatient123")]
        assert b"oPatient123" not in client.get(keys[0])
    finally:
        client.close()
    assert store.get_lock("wechat-oPatient123").conversation_id == "wechat-oPatient123"


def _replica(cls_name: str, prefix: str, keys: str, turns: int, results: Any) -> None:
    """One replica: ``turns`` turns of one conversation, each under the lock, counting how many
    turns were inside at once (a Redis counter every replica shares)."""
    import redis

    os.environ["DATA_KEYS"] = keys
    crypto.forget_keys()
    cls = {"rasa": RedisLockStore, "atomic": AtomicRedisLockStore}[cls_name]
    store = _store(cls, prefix)
    client = redis.Redis.from_url(REDIS_URL)
    overlaps = errors = 0

    async def turns_in_a_row() -> None:
        nonlocal overlaps, errors
        for _ in range(turns):
            try:
                async with store.lock("one-conversation", wait_time_in_seconds=0.001):
                    if client.incr(f"{prefix}:inside") > 1:
                        overlaps += 1
                    await asyncio.sleep(0.002)
                    client.decr(f"{prefix}:inside")
            except Exception:  # a lost lock: Rasa answers the message with an error
                errors += 1

    async def main() -> None:
        await asyncio.gather(*(turns_in_a_row() for _ in range(3)))

    asyncio.run(main())
    results.put((overlaps, errors))


def test_two_replicas_never_run_one_conversations_turns_at_once(prefix: str) -> None:
    keys = os.environ["DATA_KEYS"]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    replicas = [context.Process(target=_replica, args=("atomic", prefix, keys, 40, results))
                for _ in range(3)]
    for replica in replicas:
        replica.start()
    found = [results.get(timeout=120) for _ in replicas]
    for replica in replicas:
        replica.join(30)
    assert found == [(0, 0)] * 3
