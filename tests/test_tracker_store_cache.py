"""The encrypted tracker store reads only the rows it has not seen, and still returns what Rasa's
own SQLTrackerStore returns: across sessions, another replica's writes, and an erasure done by
another process (a deleted conversation never comes back from memory)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text

from bot import crypto

SENDER = "cache-test-sender"


@pytest.fixture()
def store_url(tracker_db_url: str) -> str:
    return tracker_db_url


def _store(url: str):
    from rasa.shared.core.domain import Domain

    from channels.tracker_store import EncryptedSQLTrackerStore

    return EncryptedSQLTrackerStore(Domain.empty(), dialect="sqlite",
                                    db=url.removeprefix("sqlite:///"))


def _stock(url: str):
    """What Rasa's own query returns: a second store that forgets what it holds before every
    read, so it always runs ``SQLTrackerStore._event_query`` on the whole table."""
    fresh = _store(url)
    fresh._read_session = _uncached(fresh)  # type: ignore[method-assign]
    return fresh


def _uncached(store):
    original = store._read_session

    def read(session, sender_id):
        store._sessions.clear()
        return original(session, sender_id)

    return read


def _said(*texts: str) -> list:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    events: list = []
    for t in texts:
        events += [ActionExecuted("action_listen"),
                   UserUttered(t, {"name": "inform", "confidence": 1.0}), BotUttered(f"re {t}")]
    return events


def _texts(tracker) -> list[str]:
    return [e.text for e in tracker.events if getattr(e, "text", None)] if tracker else []


async def _turn(store, *texts: str) -> None:
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = await store.retrieve(SENDER) or DialogueStateTracker(SENDER, [])
    for e in _said(*texts):
        tracker.update(e)
    await store.save(tracker)


def _count_statements(store) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda *args: seen.append(args[2].split()[0].upper()))
    return seen


async def test_turns_read_only_new_rows_and_match_rasas_query(store_url, monkeypatch):
    store = _store(store_url)
    for i in range(5):
        await _turn(store, f"answer {i}")
    statements = _count_statements(store)
    decrypted: list[str] = []
    decrypt = crypto.decrypt_text
    monkeypatch.setattr(crypto, "decrypt_text", lambda v: decrypted.append(v) or decrypt(v))
    tracker = await store.retrieve(SENDER)
    assert len(decrypted) == 1  # the newest row held, read again; Rasa's decrypts all 15
    monkeypatch.setattr(crypto, "decrypt_text", decrypt)
    expected = await _stock(store_url).retrieve(SENDER)
    assert _texts(tracker) == _texts(expected)
    assert [e.as_dict() for e in tracker.events] == [e.as_dict() for e in expected.events]
    assert len(tracker.events) == 15
    assert statements == ["SELECT"]  # the newest row held, and nothing after it
    raw = create_engine(store_url)
    with raw.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM events")).scalar()
    raw.dispose()
    assert rows == 15  # each event stored once: save counted right without a count query


async def test_rows_another_replica_wrote_are_read(store_url):
    ours, theirs = _store(store_url), _store(store_url)
    await _turn(ours, "one")
    await _turn(theirs, "two")  # the next turn ran on the other replica
    await _turn(ours, "three")
    assert _texts(await ours.retrieve(SENDER)) == [
        "one", "re one", "two", "re two", "three", "re three"]
    assert _texts(await _stock(store_url).retrieve(SENDER)) == _texts(await ours.retrieve(SENDER))


async def test_an_erased_conversation_does_not_come_back_from_memory(store_url):
    store = _store(store_url)
    await _turn(store, "my phone is 0123")
    assert _texts(await store.retrieve(SENDER))
    raw = create_engine(store_url)  # `python -m bot erase`, in another process
    with raw.begin() as connection:
        connection.execute(text("DELETE FROM events"))
    assert await store.retrieve(SENDER) is None
    await _turn(store, "hello again")
    assert _texts(await store.retrieve(SENDER)) == ["hello again", "re hello again"]
    with raw.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM events")).scalar() == 3
    raw.dispose()


async def test_only_the_latest_session_is_returned(store_url):
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    store = _store(store_url)
    await _turn(store, "old session")
    tracker = await store.retrieve(SENDER)
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    for e in _said("new session"):
        tracker.update(e)
    await store.save(tracker)
    got = await store.retrieve(SENDER)
    assert _texts(got) == ["new session", "re new session"]
    assert [e.as_dict() for e in got.events] == [
        e.as_dict() for e in (await _stock(store_url).retrieve(SENDER)).events]
    await _turn(store, "later")  # and saving after it stores only what is new
    assert _texts(await _stock(store_url).retrieve(SENDER)) == [
        "new session", "re new session", "later", "re later"]
