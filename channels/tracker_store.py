"""Rasa's SQL tracker store with every event encrypted at rest.

The events are the whole transcript (what the patient typed, the slots, the bot's replies), so
``endpoints.yml`` names this class as the tracker store's ``type``. It is Rasa 3.6's own
``SQLTrackerStore`` with one change: its ``SQLEvent`` table declares the sensitive columns with
:mod:`bot.sealed`'s types, so every query and write Rasa makes goes through them unchanged:

* ``sender_id`` is sealed deterministically (AES-SIV), so ``SQLEvent.sender_id == sender_id`` in
  Rasa's ``_event_query`` (retrieve, retrieve_full_tracker, the count in ``save``) still finds a
  conversation, under any key in DATA_KEYS (the comparison matches each key's form), and
  ``keys()`` returns the decrypted ids;
* ``data`` (the event's JSON), ``intent_name`` and ``action_name`` are sealed randomised;
* ``id``, ``type_name`` and ``timestamp`` stay plain: Rasa orders by ``id`` and finds the last
  session start by ``type_name`` and ``timestamp``.

The table and its columns are Rasa's, so an existing ``events`` table is used as it is; a new one
gets TEXT for the sealed columns, as ciphertext is longer than what it hides (in a table Rasa
made, ``sender_id`` is VARCHAR(255): conversation ids of up to 173 bytes fit once encrypted).
Events a plain ``SQLTrackerStore`` wrote before are encrypted in place when the store starts
(``bot.rotation.seal_tracker_events``), so a conversation carries on across the upgrade; and the
store refuses to start, saying what to do, when DATA_KEYS cannot read the events already there
(``bot.rotation.check_keys``), rather than treat every conversation as new. If this module
failed to import, Rasa would fall back to its in-memory store with only a warning: the
end-to-end test ``tests/e2e/test_encrypted_at_rest.py`` reads the transcript back from the file.

``keys()`` is overridden because during a key rotation one conversation can have rows under two
keys, which SQL's ``DISTINCT`` sees as two senders; they decrypt to one id.

``retrieve()`` and ``save()`` are overridden for speed, with Rasa's results. Rasa's own load,
select and decrypt the whole current session on every message, and ``save()`` counts the
session's rows before it inserts the new ones, so a turn cost more with every answer (issue 10).
This store keeps, per process, the decrypted rows of the conversations it served lately
(:class:`_Session`, at most ``CACHED_CONVERSATIONS``) and on each ``retrieve()`` reads only the
rows after the last one it holds, decrypting only those; ``save()`` takes the count from them.
It stays right because:

* the newest row it holds is read again with the new ones (``id >=``, compared by id and
  timestamp): if it is gone, the conversation was erased or purged (``python -m bot erase``
  runs in another process) and the whole session is read again from the table, so a deleted
  conversation never comes back from memory;
* rows another replica wrote are after that row, so they are read, and a conversation's turn
  runs under Rasa's lock (one replica's turn at a time, the lock store shared between them);
  ``save()`` reads the new rows too (usually just the newest one held, again), so its count is
  the one Rasa's count query would give;
* the session's rows are chosen as Rasa's query does: those whose timestamp is at least the
  latest ``session_started`` one's (all of them when there is none).

Rasa's ``retrieve`` then rebuilt the tracker from every row of the session, every turn
(``DialogueStateTracker.from_dict``: 11% of the Rasa server's busy time at issue 10's profile),
and the tracker recomputed its applied events and states from all of them several times a turn.
So each held session also keeps its tracker, a :class:`channels.tracker.IncrementalTracker`
(which keeps those results between calls), built from the held rows exactly as Rasa's
``from_dict`` builds it (the rows' JSON, ``deserialise_events``, ``update`` one event after the
other) and carried on with only the rows it has not had yet, deserialised once. Rasa gets a
copy (``IncrementalTracker.copy``: the events list, slots and what is kept, copied; Rasa's own
replay of the events, not the kept tracker's live state), so nothing Rasa does to it during
the turn reaches the kept one. It stays right because:

* the kept tracker only ever has events read back from rows the database holds (the rows
  ``save`` wrote are added after their commit, as before): a turn that fails, or a save whose
  commit fails, leaves no event in it; the next turn gets what the table has;
* it is built again from the rows whenever they are not the ones it had plus new ones at the
  end: the conversation was erased or purged (the newest-row check above), a newer session
  started (the session's rows are chosen again), or Rasa's domain changed (a new model);
* the copies share the event objects with it, and Rasa changes one of them in place only
  through the latest user message (``DefinePrevUserUtteredFeaturization``,
  ``EntitiesAdded``): when what the states read from that message is not what it was when the
  kept tracker last took its rows, it is built again too;
* a new conversation's tracker is an ``IncrementalTracker`` when this store makes it
  (``init_tracker``); the Rasa server wraps the store in its ``FailSafeTrackerStore``, whose own
  ``init_tracker`` gives the conversation's first turn Rasa's plain tracker (a few events, cheap
  to walk), and from its second turn on the kept tracker serves it.

On SQLite the store's database keeps a write-ahead log with ``synchronous=NORMAL``
(:func:`_sqlite_journal`) and one idle connection that keeps the log from being checkpointed
away whenever a session's connection closes: with SQLite's default rollback journal each
turn's commit waited for its fsyncs, 20% of the Rasa server's busy time once the rest was
incremental. A commit is
then written to the ``-wal`` file without waiting for the disk: a crash of the process loses
nothing, a power cut can lose the last turns' events (never the database's consistency). The
staff console still reads it with ``mode=ro`` (bot/transcripts.py: SQLite 3.22 and later open a
WAL database read-only, with or without its ``-wal`` and ``-shm`` files present), the ``-wal``
and ``-shm`` files get the database file's mode (0600), and an erasure checkpoints and
truncates the log after its ``VACUUM`` (bot/erasure.py), as on our own store.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, _create_sequence
from rasa.shared.core.events import SessionStarted, UserUttered, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.ext.declarative import declarative_base

from bot.sealed import SealedId, SealedText
from channels.tracker import IncrementalTracker, message_key

log = logging.getLogger(__name__)

# Conversations whose decrypted session this process keeps (the least recently served go first).
CACHED_CONVERSATIONS = 256


@dataclass
class _Session:
    """The rows of one conversation's current session, as Rasa's query would return them."""

    last_id: int = 0  # the newest row read or written for the sender (0: none)
    last_timestamp: float | None = None
    start: float | None = None  # the latest session_started's timestamp (None: none seen)
    rows: list[tuple[float | None, str]] = field(default_factory=list)  # (timestamp, JSON)
    # The tracker of ``rows[:tracker_rows]``, as Rasa's from_dict builds it (None: build it).
    tracker: IncrementalTracker | None = None
    tracker_rows: int = 0
    tracker_domain: Any = None
    latest_user: Any = None  # what the states read from its latest user message, then

    def add(self, row_id: int, type_name: str, timestamp: float | None, data: str) -> None:
        """One row after ``last_id``, in id order."""
        self.last_id, self.last_timestamp = row_id, timestamp
        if type_name == SessionStarted.type_name and timestamp is not None and (
            self.start is None or timestamp > self.start
        ):
            self.start = timestamp
            self.rows = [r for r in self.rows if r[0] is not None and r[0] >= timestamp]
            self.tracker = None  # other rows than the tracker had: built again
        if self.start is None or (timestamp is not None and timestamp >= self.start):
            self.rows.append((timestamp, data))


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose events are encrypted with the keys in DATA_KEYS."""

    Base = declarative_base()

    class SQLEvent(Base):  # type: ignore[misc, valid-type]
        """Rasa's event row, with its sensitive columns sealed."""

        __tablename__ = "events"

        id = sa.Column(sa.Integer, _create_sequence(__tablename__), primary_key=True)
        sender_id = sa.Column(SealedId(), nullable=False, index=True)
        type_name = sa.Column(sa.String(255), nullable=False)
        timestamp = sa.Column(sa.Float)
        intent_name = sa.Column(SealedText())
        action_name = sa.Column(SealedText())
        data = sa.Column(SealedText())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bot.files import private_sqlite
        from bot.rotation import TRACKER_COLUMNS, check_keys, seal_tracker_events

        sqlite = self.engine.dialect.name == "sqlite" and bool(self.engine.url.database)
        if sqlite:
            private_sqlite(self.engine.url.database)
        check_keys(self.engine, {"events": TRACKER_COLUMNS})
        sealed = seal_tracker_events(self.engine)
        if sealed:
            log.warning("encrypted %s tracker events that were stored in plain text", sealed)
        if sqlite:
            self._keep_write_ahead_log(checkpoint=bool(sealed))

        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._sessions_lock = threading.Lock()

    def _keep_write_ahead_log(self, checkpoint: bool) -> None:
        """WAL and NORMAL sync on every connection of the SQLite engine, and one idle
        connection kept open. Rasa's engine opens a connection per session (SQLAlchemy 1.4
        gives a SQLite file no pool), and when the last connection to a WAL database closes,
        SQLite checkpoints the log into the file and deletes it, with the fsyncs the log was
        meant to save; this one (no transaction, so no lock on the data) keeps the log open.
        After events were sealed in place, the log is checkpointed at once, so the file's old
        plain-text pages are overwritten now rather than at some later checkpoint."""
        sa.event.listen(self.engine, "connect", _sqlite_journal)
        self._wal_keeper = self.engine.raw_connection()
        cursor = self._wal_keeper.cursor()
        cursor.execute("SELECT count(*) FROM sqlite_master").fetchall()  # counts once it read
        if checkpoint:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        cursor.close()

    async def keys(self) -> Iterable[str]:
        """Sender ids of every stored conversation, each once."""
        return list(dict.fromkeys(await super().keys()))

    def _cached(self, sender_id: str) -> _Session | None:
        with self._sessions_lock:
            found = self._sessions.get(sender_id)
            if found is not None:
                self._sessions.move_to_end(sender_id)
            return found

    def _keep(self, sender_id: str, cached: _Session) -> None:
        with self._sessions_lock:
            self._sessions[sender_id] = cached
            self._sessions.move_to_end(sender_id)
            while len(self._sessions) > CACHED_CONVERSATIONS:
                self._sessions.popitem(last=False)

    def _read_session(self, session: Any, sender_id: str) -> _Session:
        """The current session's rows: the new ones after those held, or all of them again."""
        event = self.SQLEvent
        cached = self._cached(sender_id)
        if cached is not None and cached.last_id:
            found = session.execute(
                sa.select(event.id, event.type_name, event.timestamp, event.data)
                .where(event.sender_id == sender_id, event.id >= cached.last_id)
                .order_by(event.id)
            ).all()
            if found and found[0].id == cached.last_id and (
                found[0].timestamp == cached.last_timestamp
            ):
                for row in found[1:]:
                    cached.add(row.id, row.type_name, row.timestamp, row.data)
                return cached
        # Nothing held, or the newest row held is gone (erased): Rasa's own query.
        fresh = _Session()
        for row in self._event_query(session, sender_id, fetch_events_from_all_sessions=False):
            fresh.add(row.id, row.type_name, row.timestamp, row.data)
        self._keep(sender_id, fresh)
        return fresh

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the latest conversation session (Rasa's, read incrementally): a copy
        of the kept tracker, carried on with the new rows."""
        with self.session_scope() as session:
            cached = self._read_session(session, sender_id)
        if self.domain and cached.rows:
            return self._kept_tracker(sender_id, cached).copy(keep_replays=True)
        return None

    def _kept_tracker(self, sender_id: str, cached: _Session) -> IncrementalTracker:
        """The tracker of the held rows: the kept one with the rows it has not had, or built
        again (see the module docstring for when)."""
        tracker = cached.tracker
        if (
            tracker is None
            or cached.tracker_domain is not self.domain
            or cached.tracker_rows > len(cached.rows)
            or _latest_user(tracker) != cached.latest_user
        ):
            tracker = IncrementalTracker.from_dict(
                sender_id, [json.loads(data) for _, data in cached.rows], self.domain.slots
            )
        else:
            new = [json.loads(data) for _, data in cached.rows[cached.tracker_rows:]]
            for event in deserialise_events(new):  # from_dict's own steps, for the new rows
                tracker.update(event)
        tracker.keep_replays()
        cached.tracker, cached.tracker_rows = tracker, len(cached.rows)
        cached.tracker_domain, cached.latest_user = self.domain, _latest_user(tracker)
        return tracker

    def init_tracker(self, sender_id: str) -> DialogueStateTracker:
        """A new conversation's tracker: Rasa's, as an IncrementalTracker."""
        return IncrementalTracker(sender_id, self.domain.slots,
                                  max_event_history=self.max_event_history)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Insert the tracker's events the store does not have yet (Rasa's ``save``, with the
        session's row count from the rows held instead of a count query)."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            # Usually the one row held last, read again: whatever another process did since
            # is seen, as Rasa's count would see it.
            cached = self._read_session(session, sender_id)
            added = []
            for event in list(tracker.events)[len(cached.rows):]:
                data = event.as_dict()
                row = self.SQLEvent(
                    sender_id=sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                )
                session.add(row)
                added.append(row)
            session.flush()  # the ids, in the order the rows were added; read before commit
            written = [(r.id, r.type_name, r.timestamp, r.data) for r in added]
            session.commit()
        for row_id, type_name, timestamp, data in written:
            cached.add(row_id, type_name, timestamp, data)


def _sqlite_journal(dbapi_connection: Any, _record: Any) -> None:
    """Every connection of the store's SQLite engine: WAL (kept in the file), NORMAL sync."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _latest_user(tracker: DialogueStateTracker) -> Any:
    message = tracker.latest_message
    return message_key(message) if isinstance(message, UserUttered) else None
