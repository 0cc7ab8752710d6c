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

``keys()`` is the one method overridden: during a key rotation one conversation can have rows
under two keys, which SQL's ``DISTINCT`` sees as two senders; they decrypt to one id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, _create_sequence
from sqlalchemy.ext.declarative import declarative_base

from bot.sealed import SealedId, SealedText

log = logging.getLogger(__name__)


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

        if self.engine.dialect.name == "sqlite" and self.engine.url.database:
            private_sqlite(self.engine.url.database)
        check_keys(self.engine, {"events": TRACKER_COLUMNS})
        sealed = seal_tracker_events(self.engine)
        if sealed:
            log.warning("encrypted %s tracker events that were stored in plain text", sealed)

    async def keys(self) -> Iterable[str]:
        """Sender ids of every stored conversation, each once."""
        return list(dict.fromkeys(await super().keys()))
