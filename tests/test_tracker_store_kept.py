"""The encrypted tracker store keeps each held session's tracker and hands Rasa a copy: always
what Rasa's own from_dict of the table's rows gives (events, slots, applied events, states), with
only the new rows deserialised; across another writer, an erasure by another process, a failed
save, a failed turn, a copy Rasa changes, a new session and a message changed in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, text

from channels.tracker import IncrementalTracker

PROJECT = Path(__file__).resolve().parent.parent
SENDER = "kept-tracker-sender"
DOMAIN = Domain.load(str(PROJECT / "domain.yml"))
RULE_ONLY = {"rule_only_slots": ["attempts"], "rule_only_loops": ["optin_form"]}


@pytest.fixture()
def store_url(tracker_db_url: str) -> str:
    return tracker_db_url


def _store(url: str):
    from channels.tracker_store import EncryptedSQLTrackerStore

    return EncryptedSQLTrackerStore(DOMAIN, dialect="sqlite", db=url.removeprefix("sqlite:///"))


async def _rasas(url: str) -> DialogueStateTracker | None:
    """Rasa's own tracker of the table: its query, its from_dict, a plain tracker."""
    from rasa.core.tracker_store import SQLTrackerStore

    store = _store(url)
    with store.session_scope() as session:
        rows = SQLTrackerStore._event_query(store, session, SENDER,
                                            fetch_events_from_all_sessions=False).all()
    import json

    events = [json.loads(row.data) for row in rows]
    return DialogueStateTracker.from_dict(SENDER, events, DOMAIN.slots) if events else None


def _answer(n: int) -> list:
    return [UserUttered(f"answer {n}", {"name": "inform", "confidence": 1.0}),
            SlotSet("answer", f"answer {n}"), DefinePrevUserUtteredFeaturization(False),
            ActionExecuted("screening_form"), BotUttered(f"question {n}"),
            SlotSet("requested_slot", "answer"), ActionExecuted("action_listen")]


def _start() -> list:
    return [ActionExecuted("action_session_start"), SessionStarted(),
            ActionExecuted("action_listen"), UserUttered("yes", {"name": "affirm"}),
            DefinePrevUserUtteredFeaturization(False), ActionExecuted("screening_form"),
            ActiveLoop("screening_form"), SlotSet("requested_slot", "answer"),
            BotUttered("first question"), ActionExecuted("action_listen")]


def _predict(tracker: DialogueStateTracker) -> None:
    """What the policies ask for in a turn (so the copy keeps replays for the store)."""
    tracker.past_states(DOMAIN, False, False, RULE_ONLY)
    tracker.past_states(DOMAIN, False, True, RULE_ONLY)


async def _turn(store, events: list) -> DialogueStateTracker:
    tracker = await store.retrieve(SENDER) or store.init_tracker(SENDER)
    _predict(tracker)
    for event in events:
        tracker.update(event)
    _predict(tracker)
    await store.save(tracker)
    return tracker


def _same(got: DialogueStateTracker | None, expected: DialogueStateTracker | None) -> None:
    assert (got is None) == (expected is None)
    if got is None:
        return
    assert isinstance(got, IncrementalTracker)
    assert [e.as_dict() for e in got.events] == [e.as_dict() for e in expected.events]
    assert got.current_slot_values() == expected.current_slot_values()
    assert [e.as_dict() for e in got.applied_events()] == [
        e.as_dict() for e in expected.applied_events()]
    for omit, ignore, rule_only in ((False, False, RULE_ONLY), (False, True, RULE_ONLY)):
        assert got.past_states(DOMAIN, omit, ignore, rule_only) == expected.past_states(
            DOMAIN, omit, ignore, rule_only)
    assert got.followup_action == expected.followup_action
    assert got.latest_action == expected.latest_action
    assert got.active_loop == expected.active_loop


def _deserialised(monkeypatch) -> list[int]:
    import channels.tracker_store as module

    counted: list[int] = []
    original = module.deserialise_events
    monkeypatch.setattr(module, "deserialise_events",
                        lambda rows: counted.append(len(rows)) or original(rows))
    return counted


async def test_turns_carry_the_kept_tracker_on_and_match_rasa(store_url, monkeypatch):
    store = _store(store_url)
    await _turn(store, _start())
    for n in range(6):
        await _turn(store, _answer(n))
        _same(await store.retrieve(SENDER), await _rasas(store_url))
    counted = _deserialised(monkeypatch)
    await _turn(store, _answer(6))
    tracker = await store.retrieve(SENDER)
    assert counted == [0, len(_answer(6))]  # only the rows it had not had, once
    _same(tracker, await _rasas(store_url))
    kept = store._sessions[SENDER].tracker
    assert kept is not tracker
    assert kept._inc_replays and tracker._inc_replays  # the replays went on with the rows


async def test_a_copy_rasa_changes_or_drops_does_not_reach_the_kept_tracker(store_url):
    store = _store(store_url)
    await _turn(store, _start() + _answer(0))
    tracker = await store.retrieve(SENDER)
    tracker.update(UserUttered("never saved"))  # a turn that fails before its save
    tracker.slots["answer"].value = "changed"
    tracker.trigger_followup_action("utter_x")
    tracker.events.rotate(3)
    _predict(tracker)
    _same(await store.retrieve(SENDER), await _rasas(store_url))


async def test_a_failed_save_leaves_no_event_in_the_kept_tracker(store_url, monkeypatch):
    store = _store(store_url)
    await _turn(store, _start())
    tracker = await store.retrieve(SENDER)
    for event in _answer(0):
        tracker.update(event)
    real_scope = store.session_scope

    class Failing:
        def __enter__(self):
            self.session = real_scope().__enter__()
            self.session.commit = self.fail
            return self.session

        def fail(self):
            raise RuntimeError("the database went away")

        def __exit__(self, *exc):
            self.session.rollback()
            self.session.close()
            return False

    monkeypatch.setattr(store, "session_scope", Failing)
    with pytest.raises(RuntimeError):
        await store.save(tracker)
    monkeypatch.setattr(store, "session_scope", real_scope)
    got = await store.retrieve(SENDER)
    _same(got, await _rasas(store_url))
    assert not any(getattr(e, "text", None) == "answer 0" for e in got.events)
    await _turn(store, _answer(1))  # and the next turn stores only what it should
    _same(await store.retrieve(SENDER), await _rasas(store_url))


async def test_rows_another_replica_wrote_reach_the_kept_tracker(store_url):
    ours, theirs = _store(store_url), _store(store_url)
    await _turn(ours, _start())
    await _turn(ours, _answer(0))
    await _turn(theirs, _answer(1))  # the next turn ran on the other replica
    _same(await ours.retrieve(SENDER), await _rasas(store_url))
    await _turn(ours, _answer(2))
    await _turn(theirs, _answer(3))
    _same(await ours.retrieve(SENDER), await _rasas(store_url))
    _same(await theirs.retrieve(SENDER), await _rasas(store_url))


async def test_an_erased_conversation_is_not_kept(store_url):
    store = _store(store_url)
    await _turn(store, _start() + _answer(0))
    assert await store.retrieve(SENDER) is not None
    raw = create_engine(store_url)  # `python -m bot erase`, in another process
    with raw.begin() as connection:
        connection.execute(text("DELETE FROM events"))
    raw.dispose()
    assert await store.retrieve(SENDER) is None
    await _turn(store, _start())
    got = await store.retrieve(SENDER)
    _same(got, await _rasas(store_url))
    assert not any(getattr(e, "text", None) == "answer 0" for e in got.events)


async def test_a_new_session_builds_the_tracker_again(store_url):
    store = _store(store_url)
    await _turn(store, _start() + _answer(0))
    await _turn(store, _start() + _answer(1))  # a second session
    got = await store.retrieve(SENDER)
    _same(got, await _rasas(store_url))
    assert [e.text for e in got.events if isinstance(e, UserUttered)] == ["yes", "answer 1"]


async def test_a_message_changed_in_place_builds_the_tracker_again(store_url):
    store = _store(store_url)
    await _turn(store, _start() + _answer(0))
    tracker = await store.retrieve(SENDER)
    tracker.latest_message.use_text_for_featurization = True  # shared with the kept tracker
    got = await store.retrieve(SENDER)
    _same(got, await _rasas(store_url))
    assert got.latest_message is not tracker.latest_message


def test_new_conversations_start_incremental(store_url):
    assert isinstance(_store(store_url).init_tracker(SENDER), IncrementalTracker)


async def test_sqlite_keeps_a_write_ahead_log_the_console_still_reads(store_url):
    import sqlite3

    from bot import transcripts

    store = _store(store_url)
    await _turn(store, _start())
    path = store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reader = transcripts._engine(store_url)  # the console's read-only engine (mode=ro)
    try:
        with reader.connect() as connection:
            before = connection.execute(text("SELECT count(*) FROM events")).scalar()
        await _turn(store, _answer(0))  # written while the console's engine is open
        with reader.connect() as connection:
            after = connection.execute(text("SELECT count(*) FROM events")).scalar()
        assert after == before + len(_answer(0))
        # Kept open between sessions (not checkpointed away at each connection's close).
        assert Path(f"{path}-wal").exists()
        with store.session_scope() as session:
            assert session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    finally:
        transcripts.dispose_engines()
