"""Readers' shared notes in the store (bot/notes_store.py): the notes sealed, the token and the
passcode kept as hashes only, the expiry, the lock after wrong passcodes, and the purge.

Run on PostgreSQL with ``--database-url``.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from bot import crypto, erasure, notes_store
from bot.db import session_scope
from bot.models import NoteShare, utcnow
from bot.notes_store import NotesError, Outcome
from bot.rotation import sealed_columns
from tests.test_erasure import postgres_pages, printed_counts, run_cli, sqlite_files

TRIAL = "NCT06675422"
PASSCODE = "blue-heron-42"


@pytest.fixture(autouse=True)
def data_key(monkeypatch, tmp_path):
    """A key of this test's own (never var/data-key), passed to the commands it runs."""
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "unused-key-file"))
    monkeypatch.delenv("NOTES_SHARE_HOURS", raising=False)
    crypto.forget_keys()
    yield
    crypto.forget_keys()


def planted_notes(mark: str) -> list[dict[str, str]]:
    return [
        {"quote": f"Hydroxychloroquine for 12 weeks {mark}q1",
         "note": f"ask about my rash {mark}n1"},
        {"quote": "", "note": f"my kidney results from March {mark}n2"},
    ]


def raw_rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url, future=True)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM note_shares"))]
    engine.dispose()
    return rows


def raw_files(database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        return sqlite_files(database_url)
    return postgres_pages(database_url, ["note_shares"])


def shares() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(NoteShare)).scalar_one()


def test_the_notes_are_sealed_and_the_token_and_passcode_are_kept_as_hashes_only(database_url):
    mark = uuid.uuid4().hex[:12]
    share = notes_store.create_share(planted_notes(mark), PASSCODE, TRIAL, "en")
    (row,) = raw_rows(database_url)
    stored = " ".join(str(v) for v in row.values())
    for secret in (share.token, PASSCODE, mark):
        assert secret not in stored
    assert row["token_hash"] == hashlib.sha256(share.token.encode()).hexdigest()
    assert row["passcode_hash"].startswith("$argon2id$")
    # The notes column holds one Fernet token, which the data key opens.
    sealed = row["notes"]
    sealed = sealed if not sealed.startswith('"') else sealed.strip('"')
    assert mark in crypto.decrypt_text(sealed)
    # And nowhere in the database's files: not the notes, the quote, the passcode or the token.
    files = raw_files(database_url)
    assert files and row["token_hash"].encode() in files  # the files are read for real
    for secret in (f"{mark}n1", f"{mark}n2", f"{mark}q1", PASSCODE, share.token):
        assert secret.encode() not in files, secret
    # Key rotation re-encrypts them with everything else.
    assert sealed_columns()["note_shares"] == {"notes": "randomised-json"}


def test_the_right_passcode_shows_the_notes_and_a_wrong_one_is_refused_and_counted(
    database_url,
):
    notes = planted_notes(uuid.uuid4().hex[:8])
    share = notes_store.create_share(notes, PASSCODE, TRIAL, "zh")
    ready = notes_store.look_up(share.token)
    assert (ready.outcome, ready.tries_left, ready.language) == (Outcome.READY, 5, "zh")

    wrong = notes_store.open_share(share.token, "blue-heron-43")
    assert (wrong.outcome, wrong.tries_left, wrong.notes) == (Outcome.WRONG, 4, [])
    assert (wrong.trial_id, wrong.language, wrong.expires_at) == (TRIAL, "zh", share.expires_at)
    shown = notes_store.open_share(share.token, PASSCODE)
    assert shown.outcome == Outcome.SHOWN and shown.notes == notes
    assert shown.trial_id == TRIAL and shown.expires_at == share.expires_at
    # A right passcode gives its try back; the wrong one stays counted.
    assert notes_store.look_up(share.token).tries_left == 4
    assert notes_store.open_share(share.token, "").outcome == Outcome.WRONG
    assert notes_store.open_share(share.token, "x" * 10_000).outcome == Outcome.WRONG
    assert notes_store.look_up(share.token).tries_left == 2


def test_five_wrong_passcodes_lock_the_share_and_wipe_its_notes(database_url):
    share = notes_store.create_share(planted_notes("lock"), PASSCODE, TRIAL, "en")
    other = notes_store.create_share(planted_notes("other"), PASSCODE, TRIAL, "en")
    outcomes = [notes_store.open_share(share.token, f"guess-{i:04d}") for i in range(5)]
    assert [o.outcome for o in outcomes] == [Outcome.WRONG] * 4 + [Outcome.LOCKED]
    assert [o.tries_left for o in outcomes[:4]] == [4, 3, 2, 1]
    # The right passcode no longer opens it, and the notes are gone from the row.
    assert notes_store.open_share(share.token, PASSCODE).outcome == Outcome.LOCKED
    assert notes_store.look_up(share.token).outcome == Outcome.LOCKED
    rows = {r["token_hash"]: r for r in raw_rows(database_url)}
    locked = rows[notes_store.token_hash(share.token)]
    assert locked["notes"] is None and locked["locked_at"] is not None
    assert locked["wrong_passcodes"] == 5
    # Another share is not touched.
    assert notes_store.open_share(other.token, PASSCODE).outcome == Outcome.SHOWN


def test_guesses_sent_all_at_once_get_five_checks_in_all(database_url):
    share = notes_store.create_share(planted_notes("race"), PASSCODE, TRIAL, "en")
    start = threading.Barrier(12)
    outcomes: list[Outcome] = []

    def guess(i: int) -> None:
        start.wait()
        outcomes.append(notes_store.open_share(share.token, f"wrong-guess-{i}").outcome)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 12
    checked = [o for o in outcomes if o in (Outcome.WRONG, Outcome.LOCKED)]
    assert len(checked) == 5, outcomes
    assert set(outcomes) - {Outcome.WRONG, Outcome.LOCKED} <= {Outcome.BUSY}
    assert notes_store.look_up(share.token).outcome == Outcome.LOCKED
    assert notes_store.open_share(share.token, PASSCODE).outcome == Outcome.LOCKED


def test_an_expired_link_is_never_shown_and_its_row_goes_when_it_is_visited(database_url):
    made = utcnow() - timedelta(hours=73)
    visited = notes_store.create_share(planted_notes("v"), PASSCODE, TRIAL, "en", now=made)
    opened = notes_store.create_share(planted_notes("o"), PASSCODE, TRIAL, "en", now=made)
    assert shares() == 2
    assert notes_store.look_up(visited.token).outcome == Outcome.EXPIRED
    assert shares() == 1
    assert notes_store.look_up(visited.token).outcome == Outcome.UNKNOWN
    # The right passcode does not open an expired share either: it is deleted instead.
    assert notes_store.open_share(opened.token, PASSCODE).outcome == Outcome.EXPIRED
    assert shares() == 0
    # A minute before its time it still opens; at its time it does not.
    share = notes_store.create_share(planted_notes("t"), PASSCODE, TRIAL, "en", hours=1)
    almost = share.expires_at - timedelta(minutes=1)
    assert notes_store.open_share(share.token, PASSCODE, now=almost).outcome == Outcome.SHOWN
    assert notes_store.open_share(share.token, PASSCODE,
                                  now=share.expires_at).outcome == Outcome.EXPIRED


def test_the_purge_deletes_expired_shares_and_keeps_the_others(database_url, monkeypatch):
    mark = uuid.uuid4().hex[:12]
    made = utcnow() - timedelta(hours=80)
    expired = [notes_store.create_share(planted_notes(f"{mark}x{i}"), PASSCODE, TRIAL, "en",
                                        now=made) for i in range(2)]
    live = notes_store.create_share(planted_notes(f"{mark}live"), PASSCODE, TRIAL, "en")
    sealed = {r["token_hash"]: str(r["notes"]).strip('"') for r in raw_rows(database_url)}
    going = [sealed[notes_store.token_hash(s.token)].encode() for s in expired]
    assert all(g in raw_files(database_url) for g in going)

    monkeypatch.setenv("RETENTION_DAYS", "90")
    dry = run_cli("purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert printed_counts(dry.stdout, "would purge (older than 90 days):")["note shares"] == 2
    assert shares() == 3
    done = run_cli("purge")
    assert done.returncode == 0, done.stderr
    assert printed_counts(done.stdout, "purged (older than 90 days):")["note shares"] == 2
    assert shares() == 1
    assert notes_store.open_share(live.token, PASSCODE).outcome == Outcome.SHOWN
    for share in expired:
        assert notes_store.look_up(share.token).outcome == Outcome.UNKNOWN
    # The purge vacuumed: the expired shares' ciphertext is not left in the files.
    files = raw_files(database_url)
    assert [g for g in going if g in files] == []
    assert erasure.purge(90).counts.note_shares == 0


def test_how_long_a_link_works_comes_from_the_environment(database_url, monkeypatch):
    assert notes_store.share_hours() == 72
    monkeypatch.setenv("NOTES_SHARE_HOURS", "5")
    before = utcnow()
    share = notes_store.create_share(planted_notes("h"), PASSCODE, TRIAL, "en")
    assert timedelta(hours=5) <= share.expires_at - before < timedelta(hours=5, seconds=30)
    for bad in ("0", "five", "721"):
        monkeypatch.setenv("NOTES_SHARE_HOURS", bad)
        with pytest.raises(ValueError, match="NOTES_SHARE_HOURS"):
            notes_store.share_hours()


@pytest.mark.parametrize(("notes", "passcode", "key"), [
    ([], PASSCODE, "notes_nothing_to_share"),
    ("a note", PASSCODE, "notes_nothing_to_share"),
    ([{"quote": "q", "note": "n"}] * 51, PASSCODE, "notes_too_many"),
    ([{"quote": "q", "note": "n" * 2001}], PASSCODE, "notes_too_long"),
    ([{"quote": "q" * 501, "note": "n"}], PASSCODE, "notes_quote_too_long"),
    ([{"quote": "q" * 500, "note": "n" * 2000}] * 21, PASSCODE, "notes_too_much"),
    ([{"quote": "q", "note": "   "}], PASSCODE, "notes_note_empty"),
    ([{"quote": "q", "note": 5}], PASSCODE, "notes_share_failed"),
    (["note"], PASSCODE, "notes_share_failed"),
    ([{"quote": "q", "note": "n"}], "short", "notes_passcode_short"),
    ([{"quote": "q", "note": "n"}], None, "notes_passcode_short"),
    ([{"quote": "q", "note": "n"}], "p" * 129, "notes_passcode_long"),
])
def test_notes_and_passcodes_the_store_refuses(database_url, notes, passcode, key):
    with pytest.raises(NotesError) as refused:
        notes_store.create_share(notes, passcode, TRIAL, "en")
    assert refused.value.key == key
    assert shares() == 0


def test_half_a_utf16_pair_or_a_nul_is_replaced_and_unknown_tokens_find_nothing(database_url):
    share = notes_store.create_share([{"quote": "a\ud800b", "note": "c\x00d"}], PASSCODE, TRIAL,
                                     "en")
    assert notes_store.open_share(share.token, PASSCODE).notes == [
        {"quote": "a\ufffdb", "note": "c\ufffdd"}]
    for token in ("", "short", share.token[:-1] + ("A" if share.token[-1] != "A" else "B"),
                  share.token + "x", "../" * 15):
        assert notes_store.look_up(token).outcome == Outcome.UNKNOWN
        assert notes_store.open_share(token, PASSCODE).outcome == Outcome.UNKNOWN


def test_rotate_keys_reencrypts_shared_notes_so_the_old_key_can_go(database_url, monkeypatch,
                                                                   tmp_path):
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'rasa.db'}")
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    old = crypto.new_key()
    monkeypatch.setenv("DATA_KEYS", old)
    crypto.forget_keys()
    open_one = notes_store.create_share(planted_notes("rot"), PASSCODE, TRIAL, "en")
    locked = notes_store.create_share(planted_notes("rotlock"), PASSCODE, TRIAL, "en")
    for i in range(5):
        notes_store.open_share(locked.token, f"wrong-{i:05d}")
    new = crypto.new_key()
    monkeypatch.setenv("DATA_KEYS", f"{new},{old}")
    crypto.forget_keys()
    done = run_cli("rotate-keys")
    assert done.returncode == 0, done.stderr
    assert "store: 1 values re-encrypted" in done.stdout
    monkeypatch.setenv("DATA_KEYS", new)
    crypto.forget_keys()
    assert notes_store.open_share(open_one.token, PASSCODE).notes == planted_notes("rot")
    assert notes_store.look_up(locked.token).outcome == Outcome.LOCKED
