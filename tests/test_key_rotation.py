"""Key rotation: a new key first in DATA_KEYS, `python -m bot rotate-keys`, then the old key can
go, and everything (store, tracker store, spool) still reads back. Removing it too early fails
loudly, with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot import crypto
from tests.test_encryption import (
    PHONE_CONVERSATION,
    assert_nothing_planted_in,
    plant_patient_data,
    raw_sqlite_bytes,
    raw_store_columns,
)


@pytest.fixture()
def keys(monkeypatch, tmp_path: Path):
    """(new, old): the store starts under the old key alone."""
    new, old = crypto.new_key(), crypto.new_key()
    monkeypatch.setenv("DATA_KEYS", old)
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "unused-key-file"))
    crypto.forget_keys()
    yield new, old
    crypto.forget_keys()


def _drop_events(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))
    engine.dispose()


@pytest.fixture()
def tracker_url(tmp_path: Path, monkeypatch, request):
    """The tracker store: a SQLite file, or the PostgreSQL of ``--database-url``."""
    url = request.config.getoption("--database-url") or f"sqlite:///{tmp_path / 'rasa.db'}"
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    if not url.startswith("sqlite"):
        _drop_events(url)
    yield url
    if not url.startswith("sqlite"):
        _drop_events(url)  # the store's own schema has no events table


def store_kwargs(url: str) -> dict:
    if url.startswith("sqlite:///"):
        return {"dialect": "sqlite", "db": url.removeprefix("sqlite:///")}
    return {"dialect": "postgresql", "host": url}


def encrypted_tracker_store(url: str):
    from rasa.shared.core.domain import Domain

    from channels.tracker_store import EncryptedSQLTrackerStore

    return EncryptedSQLTrackerStore(Domain.empty(), **store_kwargs(url))


def raw_tracker(url: str) -> bytes:
    """The tracker store as a local user or a database reader sees it: the SQLite file's bytes,
    or every column of the events table read with plain SQL."""
    if url.startswith("sqlite:///"):
        return raw_sqlite_bytes(Path(url.removeprefix("sqlite:///")))
    return "\n".join(str(value) for row in raw_events(url) for value in row).encode()


async def save_conversation(store, sender: str, said: str, answer: str) -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker(sender, [])
    for event in (ActionExecuted("action_listen"), BotUttered(said),
                  UserUttered(answer, {"name": "inform", "confidence": 1.0})):
        tracker.update(event)
    await store.save(tracker)


def raw_events(url: str) -> list[tuple]:
    """The events' sealed columns, read with plain SQL (no ORM types)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT sender_id, intent_name, action_name, data FROM events ORDER BY id")
            ).all()
    finally:
        engine.dispose()


def use_keys(monkeypatch, *keys: str) -> None:
    monkeypatch.setenv("DATA_KEYS", ",".join(keys))


def reads_everything(lead_id: str, tracker_url: str) -> None:
    from bot import leads, screenings, transcripts

    assert screenings.snapshot(PHONE_CONVERSATION).status == "may_qualify"
    queued = {lead["id"]: lead for lead in leads.queue_as_dicts()}
    assert queued[lead_id]["first_name"] == "Zebulon"
    assert queued[lead_id]["notes"][0]["note"] == "Called back about the visit"
    said = [m.text for m in transcripts.read(PHONE_CONVERSATION, tracker_url).messages]
    assert said == ["What medicines do you take?", "I take Benlysta"]


async def test_after_rotate_keys_the_old_key_can_go_and_everything_reads_back(
    keys, database_url, tracker_url, monkeypatch, capsys
):
    from bot import cli, db, transcripts

    new, old = keys
    lead_id = await plant_patient_data()
    store = encrypted_tracker_store(tracker_url)
    await save_conversation(store, PHONE_CONVERSATION, "What medicines do you take?",
                            "I take Benlysta")
    before = (raw_store_columns(database_url), raw_events(tracker_url))

    # The new key first: what the old one encrypted still reads.
    use_keys(monkeypatch, new, old)
    reads_everything(lead_id, tracker_url)
    assert cli.main(["rotate-keys"]) == 0
    out = capsys.readouterr().out
    assert "2 key(s) in DATA_KEYS" in out
    assert "every value is under the newest key" in out
    # 3 events: 3 sender ids, 3 data, the action's name and the user message's intent
    assert "tracker store: 8 values re-encrypted, 0 already" in out

    # The old key removed: everything still reads, from the store and the tracker store.
    use_keys(monkeypatch, new)
    db.dispose_all()
    db.init_db(database_url)  # the start-up check passes
    reads_everything(lead_id, tracker_url)
    after = (raw_store_columns(database_url), raw_events(tracker_url))
    assert set(before[0]) != set(after[0]) and before[1] != after[1]
    assert raw_events(tracker_url)[0][0] == transcripts.stored_sender_id(PHONE_CONVERSATION)
    tracker = await encrypted_tracker_store(tracker_url).retrieve(PHONE_CONVERSATION)
    assert [e.text for e in tracker.events if hasattr(e, "text")] == [
        "What medicines do you take?", "I take Benlysta"]
    assert await store.keys() == [PHONE_CONVERSATION]
    # Nothing was decrypted into the files on the way.
    assert_nothing_planted_in("\n".join(after[0]), "the store after rotation")
    assert_nothing_planted_in(raw_tracker(tracker_url), "the tracker store after rotation")
    # A second run has nothing left to do.
    assert cli.main(["rotate-keys"]) == 0
    assert "tracker store: 0 values re-encrypted, 8 already" in capsys.readouterr().out


async def test_removing_the_old_key_before_rotating_fails_loudly_with_what_to_do(
    keys, database_url, tracker_url, monkeypatch, capsys
):
    from sqlalchemy import select

    from bot import cli, db
    from bot.db import session_scope
    from bot.models import Lead

    new, old = keys
    lead_id = await plant_patient_data()
    await save_conversation(encrypted_tracker_store(tracker_url), PHONE_CONVERSATION,
                            "What medicines do you take?", "I take Benlysta")
    use_keys(monkeypatch, new)
    db.dispose_all()

    # Every process starts with init_db (store) or the tracker store: both refuse to.
    with pytest.raises(crypto.UnreadableValue, match="rotate-keys") as refused:
        db.init_db(database_url)
    assert "Put the old key back" in str(refused.value)
    with pytest.raises(crypto.UnreadableValue, match=r"events\.sender_id"):
        encrypted_tracker_store(tracker_url)
    # Reading a lead fails, rather than showing ciphertext or nothing.
    with pytest.raises(crypto.UnreadableValue), session_scope() as session:
        session.execute(select(Lead).where(Lead.id == lead_id)).scalar_one()
    # rotate-keys says what to do and changes nothing.
    raw = raw_store_columns(database_url)
    assert cli.main(["rotate-keys"]) == 1
    assert "rotate-keys: a stored value" in capsys.readouterr().err
    assert raw_store_columns(database_url) == raw
    # With the old key back after the new one, all is well again.
    use_keys(monkeypatch, new, old)
    db.init_db(database_url)
    reads_everything(lead_id, tracker_url)


async def test_a_tracker_store_written_in_plain_text_is_sealed_when_it_starts(
    keys, tracker_url, database_url
):
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    from bot import transcripts

    plain = SQLTrackerStore(Domain.empty(), **store_kwargs(tracker_url))
    await save_conversation(plain, PHONE_CONVERSATION, "What medicines do you take?",
                            "I take Benlysta")
    plain.engine.dispose()
    assert b"Benlysta" in raw_tracker(tracker_url)

    store = encrypted_tracker_store(tracker_url)
    rows = raw_events(tracker_url)
    assert all(r[0].startswith("d1.") and r[3].startswith("gAAAAA") for r in rows)
    store.engine.dispose()
    assert_nothing_planted_in(raw_tracker(tracker_url), "the tracker store")
    tracker = await store.retrieve(PHONE_CONVERSATION)
    assert [e.text for e in tracker.events if hasattr(e, "text")][-1] == "I take Benlysta"
    assert [m.text for m in transcripts.read(PHONE_CONVERSATION).messages] == [
        "What medicines do you take?", "I take Benlysta"]


def test_a_spooled_lead_is_re_encrypted_too(keys, monkeypatch, tmp_path) -> None:
    from bot import rotation, spool

    new, old = keys
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    path = spool.write("leads", {"first_name": "Zebulon"})
    use_keys(monkeypatch, new, old)
    counts = rotation.rotate_spool()
    assert (counts.rewritten, counts.current) == (1, 0)
    use_keys(monkeypatch, new)
    stored: list[dict] = []
    assert spool.replay("leads", stored.append) == (1, 0)
    assert stored == [{"first_name": "Zebulon"}] and not path.exists()
