"""Rasa's Redis lock store, with each change of a conversation's lock one atomic step.

Rasa 3.6's ``RedisLockStore`` keeps a conversation's ticket lock as one JSON value and changes
it by reading it, changing it in Python and writing it back (``issue_ticket``, ``update_lock``,
``finish_serving``, ``cleanup``). Within one process that is safe: the calls are synchronous, so
nothing else runs on the event loop in between. Between two replicas it is not. Two replicas
that take tickets for one conversation at the same moment can both read the same lock, and both
write it back with a ticket of the same number, or one replica's write drops the other's ticket.
A replica that finishes a turn can also delete the lock just after another replica added a
ticket to it. Then two turns of one conversation run at once on the two replicas, and their
events interleave in the tracker store. The cluster's load test caught it:
``tests/e2e/test_cluster_load.py``, six messages of one conversation sent to both replicas at
once, found the stored events out of time order. The fix in Rasa is the concurrent lock store
of RasaHQ/rasa#11256, which went to Rasa's paid edition, not to Open Source.

:class:`AtomicRedisLockStore` keeps Rasa's ticket lock and its JSON, and changes only how
the value is changed. Each read-change-write runs under Redis's ``WATCH``/``MULTI``: the write
happens only if nobody else wrote the key since it was read, and otherwise the step is read and
done again. ``cleanup`` is one such step (remove my ticket; delete the lock only if no ticket is
left), where Rasa's was three.

The conversation id is not written in the clear. Rasa puts it in the key and in the value;
here the key ends in a digest of the id (as ``bot.ratelimit`` keys do), and the value holds
only the digest. The digest is keyed with the newest of DATA_KEYS, so every replica must run
with the same DATA_KEYS (a key rotation restarts them all).

``endpoints.yml`` names it as the lock store's ``type``, with Rasa's Redis lock store's
settings (``bot.deploy.cluster.lock_store``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.crypto import encrypt_deterministic

T = TypeVar("T")

_UNCHANGED = object()  # a change that writes nothing back
_DELETE = object()  # a change that deletes the lock


def conversation_digest(conversation_id: str) -> str:
    """What stands for the conversation id in Redis (no patient's id in the clear)."""
    sealed = encrypt_deterministic(conversation_id)
    return hashlib.sha256(sealed.encode()).hexdigest()[:40]


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose lock changes are atomic between processes."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        """Rasa builds a custom lock store from its endpoint config; tests pass keywords."""
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs}
        super().__init__(**kwargs)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_digest(conversation_id)

    def _change(self, conversation_id: str,
                change: Callable[[TicketLock | None], tuple[Any, T]]) -> T:
        """Apply ``change`` to the stored lock in one step: ``change`` gets the lock (None if
        there is none) and returns what to store (a lock, ``_DELETE`` or ``_UNCHANGED``) and a
        result. Retried whenever another process wrote the key in between."""
        import redis

        key = self._key(conversation_id)
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = self._loads(conversation_id, raw)
                    stored, result = change(lock)
                    pipe.multi()
                    if stored is _DELETE:
                        pipe.delete(key)
                    elif stored is not _UNCHANGED:
                        pipe.set(key, self._dumps(stored))
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    @staticmethod
    def _loads(conversation_id: str, raw: bytes | None) -> TicketLock | None:
        if not raw:
            return None
        lock = TicketLock.from_dict(json.loads(raw))
        lock.conversation_id = conversation_id  # the value holds only the digest
        return lock

    @staticmethod
    def _dumps(lock: TicketLock) -> str:
        tickets = [ticket.dumps() for ticket in lock.tickets]
        return json.dumps({"conversation_id": conversation_digest(lock.conversation_id),
                           "tickets": tickets})

    # Reads and whole writes, on the digested key.

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._loads(conversation_id, self.red.get(self._key(conversation_id)))

    def delete_lock(self, conversation_id: str) -> None:
        self._log_deletion(conversation_id, bool(self.red.delete(self._key(conversation_id))))

    def save_lock(self, lock: TicketLock) -> None:
        self.red.set(self._key(lock.conversation_id), self._dumps(lock))

    # Rasa's read-change-write steps, each atomic.

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def take(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or TicketLock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, take)
        except Exception as e:  # Rasa's own wrapping: the channel answers a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{type(e).__name__}") from e

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: TicketLock) -> TicketLock:
            lock.remove_expired_tickets()
            return lock

        self._change_existing(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def remove(lock: TicketLock) -> TicketLock:
            lock.remove_ticket_for(ticket_number)
            return lock

        self._change_existing(conversation_id, remove)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        def remove_and_delete_if_idle(lock: TicketLock) -> Any:
            lock.remove_ticket_for(ticket_number)
            return lock if lock.is_someone_waiting() else _DELETE

        self._change_existing(conversation_id, remove_and_delete_if_idle)

    def _change_existing(self, conversation_id: str,
                         change: Callable[[TicketLock], Any]) -> None:
        """:meth:`_change` for a step that leaves a missing lock missing: ``change`` gets the
        stored lock and returns what to store."""
        self._change(conversation_id,
                     lambda lock: (_UNCHANGED if lock is None else change(lock), None))
