"""`python -m bot erase`: one patient's data leaves every place it lives, raw files included.

Values planted through the store's own functions (screenings, answers, leads, notes, opt-ins,
the outbox and its .eml files) and Rasa's own tracker store carry a token no other row has; after
the erasure neither the token nor any stored form of the patient's values (ciphertext, when the
columns are encrypted) is left in a table or in the database files, while another patient's
data is all still there. Run on PostgreSQL with ``--database-url``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot import erasure, leads, mailer, screenings, transcripts
from bot.console.models import AuditEvent
from bot.db import get_engine, session_scope
from bot.models import AnswerRow, Lead, LeadEvent, OptIn, OutboxMessage, Screening, VerdictRow
from bot.protocol import get_protocol
from bot.questions import interpret
from bot.settings import PROJECT_ROOT
from tests.test_actions import may_qualify

TRIAL = "NCT06675422"
STORE_TABLES = {
    "screenings": Screening, "answers": AnswerRow, "verdicts": VerdictRow, "leads": Lead,
    "lead_events": LeadEvent, "optins": OptIn, "outbox": OutboxMessage,
}


@pytest.fixture(autouse=True)
def data_key(monkeypatch, tmp_path):
    """A key and a spool of this test's own, passed to the commands it runs (never var/)."""
    from bot import crypto

    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))


# ---- the tracker store, as Rasa writes it ------------------------------------------------------


@pytest.fixture()
def tracker_url(database_url, tmp_path, monkeypatch):
    """Rasa's SQL tracker store: a SQLite file beside the store, or the same PostgreSQL."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'rasa.db'}"
    else:
        url = database_url
        _drop_events(url)
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    yield url
    transcripts.dispose_engines()
    if not url.startswith("sqlite"):
        _drop_events(url)


def _drop_events(url: str) -> None:
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS events")
    engine.dispose()


def rasa_tracker_store(url: str):
    """The tracker store endpoints.yml names (Rasa's SQL store, or our subclass of it), on
    ``url``, and the sender id to give it for a conversation: the plain SQL store is handed the
    stored form, the way the store that writes the stored form itself would write it."""
    import importlib

    import yaml
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    kind = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())["tracker_store"]["type"]
    if kind == "SQL":
        store_class, sender = SQLTrackerStore, transcripts.stored_sender_id
    else:
        module, name = kind.rsplit(".", 1)
        store_class, sender = getattr(importlib.import_module(module), name), str
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        store = store_class(Domain.empty(), dialect="sqlite", db=parsed.database)
    else:
        store = store_class(
            Domain.empty(), dialect="postgresql", host=parsed.host, port=parsed.port,
            db=parsed.database, username=parsed.username, password=parsed.password,
        )
    return store, sender


async def rasa_says(
    url: str, conversation_id: str, patient_text: str, at: float | None = None
) -> None:
    """Save a message and the reply through the tracker store Rasa is configured with."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    at = at or time.time()
    store, sender = rasa_tracker_store(url)
    tracker = DialogueStateTracker.from_events(
        sender(conversation_id),
        [
            ActionExecuted("action_listen", timestamp=at),
            UserUttered(patient_text, {"name": "inform", "confidence": 1.0}, timestamp=at + 1),
            BotUttered(f"Thanks, I noted: {patient_text}", timestamp=at + 2),
        ],
    )
    await store.save(tracker)
    store.engine.dispose()


def _sender_ids(conversation_id: str) -> list[str]:
    forms = getattr(transcripts, "stored_sender_ids", None)
    return forms(conversation_id) if forms else [transcripts.stored_sender_id(conversation_id)]


def raw_tracker_values(url: str, conversations: list[str]) -> set[bytes]:
    """The stored sender ids and event data of these conversations (ciphertext when the tracker
    store encrypts), short enough to sit whole in one page."""
    engine = create_engine(url, future=True)
    events = transcripts.events
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.sender_id, events.c.data).where(
                events.c.sender_id.in_([s for c in conversations for s in _sender_ids(c)])
            )
        ).all()
    engine.dispose()
    return {_as_bytes(v) for row in rows for v in row if v and len(v) < 1000}


def tracker_rows(url: str, conversation_id: str) -> int:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(
                    transcripts.events.c.sender_id.in_(_sender_ids(conversation_id))
                )
            ).scalar_one()
    finally:
        engine.dispose()


# ---- planting a patient ----------------------------------------------------------------------


@dataclass
class Patient:
    token: str
    conversation: str  # screened on the web, became a lead
    second_conversation: str  # screened again on Telegram, the same email in another case
    email: str
    phone: str
    lead_id: str

    @property
    def whatsapp(self) -> str:
        return f"whatsapp:{self.phone}"


def _answer_with_token(conversation: str, token: str) -> None:
    """A re-typed age that carries the token, read the way the bot reads it."""
    interpretation = interpret(get_protocol(TRIAL).question("age"), "34")
    assert interpretation is not None
    screenings.record_answer(conversation, "age", f"34, ref {token}", interpretation)


async def plant(label: str, tracker_url: str, phone_tail: int) -> Patient:
    token = f"{label}{uuid.uuid4().hex[:12]}"
    conversation = f"web-{token}"
    second = f"tg-{token}"
    email = f"{token}@example.org"
    phone = f"+44207946{phone_tail:04d}"
    await may_qualify(conversation)
    _answer_with_token(conversation, token)
    details = leads.ContactDetails(f"Ann{token}", f"Lee{token}", email, phone, None)
    lead_id = leads.create_lead(conversation, details, "consent wording")
    leads.add_note(lead_id, f"called, left message {token}", "coordinator@site.example")
    leads.set_status(lead_id, "contacted", "coordinator@site.example")
    leads.save_optin(conversation, TRIAL, email, "other trials wording")
    # Screened again in another conversation (started over once), the same email in capitals.
    await may_qualify(second)
    screenings.restart(second)
    await may_qualify(second)
    leads.create_lead(
        second, leads.ContactDetails(f"Ann{token}", f"Lee{token}", email.upper(), phone, None),
        "consent wording",
    )
    mailer.send_pending()
    # By SMS (the conversation id is the number) while the database was down: spooled.
    spool_lead(phone, leads.ContactDetails(f"Ann{token}", f"Lee{token}", email, phone, None))
    await rasa_says(tracker_url, conversation, f"my name is Ann{token}")
    await rasa_says(tracker_url, second, f"email {email}")
    await rasa_says(tracker_url, f"whatsapp:{phone}", f"hello from {token}")  # Twilio: id = number
    return Patient(token, conversation, second, email, phone, lead_id)


def spool_lead(conversation: str, details: leads.ContactDetails) -> None:
    """Submit a lead the way the contact form does, with the database unreachable."""
    url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = "postgresql+psycopg2://postgres@127.0.0.1:1/unreachable"
    try:
        assert leads.submit_lead(conversation, details, "consent wording") is leads.Stored.SPOOL
    finally:
        os.environ["DATABASE_URL"] = url


def spooled() -> list[Path]:
    from bot import spool

    return spool.pending(leads.LEAD_SPOOL)


def raw_values(database_url: str, token: str, answers_with: str | None = None) -> set[bytes]:
    """The values of the screenings whose conversation id holds ``token`` (their conversation id,
    leads' contact details, answers that hold ``answers_with``, by default the token too) as the
    database stores them, ciphertext when encrypted, read with plain SQL; short enough to sit
    whole in one page."""
    answers_with = token if answers_with is None else answers_with
    engine = create_engine(database_url, future=True)
    values: set[bytes] = set()
    with engine.connect() as connection:
        by_id = dict(connection.execute(text("SELECT id, conversation_id FROM screenings")).all())
        mine = {sid for sid, cid in by_id.items() if token in _opened(cid, deterministic=True)}
        values.update(_as_bytes(by_id[sid]) for sid in mine)
        for sid, *contact in connection.execute(
            text("SELECT screening_id, first_name, last_name, email, phone FROM leads")
        ):
            if sid in mine:
                values.update(_as_bytes(v) for v in contact)
        for sid, raw in connection.execute(text("SELECT screening_id, raw_text FROM answers")):
            if sid in mine and answers_with in _opened(raw):
                values.add(_as_bytes(raw))
    engine.dispose()
    return {v for v in values if v and len(v) < 1000}


def _opened(value, deterministic: bool = False) -> str:
    """A raw column value in plain text: decrypted if it is a ciphertext."""
    from bot import crypto

    value = value if isinstance(value, str) else bytes(value).decode("ascii", "replace")
    try:
        return crypto.decrypt_deterministic(value) if deterministic else crypto.decrypt_text(value)
    except Exception:  # noqa: BLE001 - a plain value (that column is not encrypted)
        return value


def _as_bytes(value) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


def file_bytes(*paths: Path) -> bytes:
    """The bytes of these files (those that exist), read by another process.

    Not ``Path.read_bytes()`` here: closing a descriptor of a SQLite file drops the POSIX locks
    SQLite holds for every connection this process keeps open to it (the store's pool), so the
    next process to close its own connection takes itself for the last, removes the -wal and
    -shm files, and the kept connections go on reading a stale database
    (https://www.sqlite.org/howtocorrupt.html, 2.2).
    """
    script = (
        "import sys\nfrom pathlib import Path\n"
        "for p in map(Path, sys.argv[1:]):\n"
        "    sys.stdout.buffer.write(p.read_bytes() if p.exists() else b'')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *map(str, paths)],
                          capture_output=True, check=True, timeout=60)
    return done.stdout


def sqlite_files(url: str) -> bytes:
    """Every byte of a SQLite database: the main file and its -wal, -shm and -journal."""
    path = Path(make_url(url).database)
    return file_bytes(path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal")))


def postgres_pages(url: str, tables: list[str]) -> bytes:
    """Every page of these tables, their TOAST tables and indexes, as PostgreSQL holds them
    (through the buffer manager, so nothing waits on a checkpoint)."""
    engine = create_engine(url, future=True)
    chunks = []
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        relations = connection.execute(text(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind IN ('r','i','t') AND ("
            " c.oid = ANY(CAST(:names AS regclass[]))"
            " OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(CAST(:names AS "
            "regclass[])))"
            " OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE oid = ANY(CAST(:names AS "
            "regclass[]))))"
        ), {"names": "{" + ",".join(tables) + "}"}).scalars().all()
        for relation in relations:
            blocks = connection.execute(
                text("SELECT pg_relation_size(CAST(:r AS regclass)) / 8192"), {"r": relation}
            ).scalar_one()
            for block in range(blocks):
                chunks.append(bytes(connection.execute(
                    text("SELECT get_raw_page(:r, :b)"), {"r": relation, "b": block}
                ).scalar_one()))
        connection.commit()
    engine.dispose()
    return b"".join(chunks)


def raw_bytes(database_url: str, tracker_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        return sqlite_files(database_url) + sqlite_files(tracker_url)
    return postgres_pages(database_url, [*STORE_TABLES, "events"])


def store_rows() -> dict[str, int]:
    with session_scope() as session:
        return {
            name: session.execute(select(func.count()).select_from(model)).scalar_one()
            for name, model in STORE_TABLES.items()
        }


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, input=stdin,
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )


def printed_counts(output: str, heading: str) -> dict[str, int]:
    """The counts the command printed under ``heading``."""
    lines = output.split(heading, 1)[1].splitlines()[1:]
    counts = {}
    for line in lines:
        if not line.startswith("  "):
            break
        name, count = line.strip().rsplit(" ", 1)
        counts[name.strip()] = int(count)
    return counts


# ---- the tests -------------------------------------------------------------------------------


async def test_erasing_by_phone_leaves_no_row_and_no_byte_of_the_patient(
    database_url, tracker_url
):
    patient = await plant("erase", tracker_url, 1234)
    other = await plant("keep", tracker_url, 5678)
    before = store_rows()
    planted = raw_values(database_url, patient.token) | raw_tracker_values(
        tracker_url, [patient.conversation, patient.second_conversation, patient.whatsapp])
    # In plain text too: there before only while a column or the tracker store is unencrypted.
    plain = {v.encode() for v in (patient.token, patient.email, patient.phone)}
    kept = raw_values(database_url, other.token) | raw_tracker_values(
        tracker_url, [other.conversation, other.second_conversation, other.whatsapp])
    files = raw_bytes(database_url, tracker_url)
    # Not vacuous: every value looked for is in the files before the erasure.
    assert [v for v in planted if v not in files] == [], "a planted value is not in the files"
    assert len(list(mailer.outbox_dir().glob("*.eml"))) == 4 and len(spooled()) == 2

    done = run_cli("erase", "--phone", patient.phone.replace("+44", "+44 "), "--yes")
    assert done.returncode == 0, done.stderr

    # What the operator sees: counts, never the patient's details.
    for secret in (patient.token, patient.email, patient.phone, patient.conversation):
        assert secret not in done.stdout + done.stderr
    erased = printed_counts(done.stdout, "erased:")
    assert (erased["screenings"], erased["leads"], erased["tracker events"]) == (3, 2, 9)
    assert erased["spooled leads"] == 1 and erased["outbox files"] == 2
    after = store_rows()
    assert {name: before[name] - after[name] for name in before} == {
        "screenings": 3,  # both conversations, the restarted screening too
        "answers": before["answers"] // 2, "verdicts": before["verdicts"] // 2,
        "leads": 2, "lead_events": 2, "optins": 1, "outbox": 2,
    }
    for conversation in (patient.conversation, patient.second_conversation, patient.whatsapp):
        assert tracker_rows(tracker_url, conversation) == 0
    eml = [p.read_bytes() for p in mailer.outbox_dir().glob("*.eml")]
    assert len(eml) == 2 and not any(patient.token.encode() in m for m in eml)
    from bot import crypto

    assert [other.phone in crypto.decrypt_text(p.read_text()) for p in spooled()] == [True]

    # The other patient is all there.
    assert all(tracker_rows(tracker_url, c) == 3 for c in (other.conversation, other.whatsapp))
    with session_scope() as session:
        lead = session.get(Lead, other.lead_id)
        assert lead is not None and lead.email == other.email
        assert [e.note for e in lead.events if e.kind == "note"] == [
            f"called, left message {other.token}"]
        assert session.execute(select(func.count()).select_from(Screening).where(
            Screening.conversation_id == other.conversation)).scalar_one() == 1
        audit = session.execute(
            select(AuditEvent).where(AuditEvent.action == "erased")
        ).scalar_one()
    # The audit record: an opaque request id and counts.
    assert audit.actor == "command line" and len(audit.target) == 32
    audit_text = f"{audit.target} {audit.detail}"
    for secret in (patient.token, patient.email, patient.phone, patient.conversation):
        assert secret not in audit_text
    assert "by phone" in audit.detail and "screenings 3" in audit.detail

    # No trace in the raw files, main file and -wal/-shm alike; the other patient's values stay.
    files = raw_bytes(database_url, tracker_url)
    assert [v for v in planted | plain if v in files] == []
    assert all(value in files for value in kept)


async def test_erasing_by_email_in_another_case_or_by_conversation_finds_the_same_patient(
    database_url, tracker_url
):
    patient = await plant("erase", tracker_url, 2345)
    other = await plant("keep", tracker_url, 6789)
    by_email = erasure.erase(emails=[patient.email.title()], dry_run=True).counts
    by_conversation = erasure.erase(conversations=[patient.second_conversation], dry_run=True)
    assert by_email == by_conversation.counts
    assert (by_email.screenings, by_email.leads, by_email.optins, by_email.outbox,
            by_email.outbox_files, by_email.tracker_events, by_email.spooled_leads) == (
        3, 2, 1, 2, 2, 9, 1)
    assert by_conversation.request_id is None and store_rows()["leads"] == 4  # a dry run

    result = erasure.erase(conversations=[patient.conversation])
    assert result.counts == by_email and result.request_id
    assert store_rows()["leads"] == 2
    assert erasure.erase(emails=[other.email], dry_run=True).counts.leads == 2


async def test_the_command_asks_first_and_erases_nothing_without_a_yes(database_url, tracker_url):
    patient = await plant("erase", tracker_url, 3456)
    before = store_rows()
    done = run_cli("erase", "--email", patient.email, stdin="no\n")
    assert done.returncode == 1 and "nothing erased" in done.stdout
    assert "found:" in done.stdout and patient.email not in done.stdout
    assert store_rows() == before and tracker_rows(tracker_url, patient.conversation) == 3
    done = run_cli("erase", "--email", patient.email, stdin="yes\n")
    assert done.returncode == 0, done.stderr
    assert store_rows()["leads"] == 0 and tracker_rows(tracker_url, patient.conversation) == 0
    nothing = run_cli("erase", "--email", patient.email, "--yes")
    assert nothing.returncode == 0 and "nothing found" in nothing.stdout
    assert run_cli("erase", "--phone", "12").returncode == 2


def test_sqlite_overwrites_deleted_rows_in_the_file(database_url):
    """secure_delete on our connections: a deleted answer's bytes are zeros in the file, even
    without a VACUUM (the WAL checkpointed so the file is what is read)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's secure_delete")
    engine = get_engine(database_url)
    token = f"secure{uuid.uuid4().hex}"
    with engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar_one() == 1
        connection.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v TEXT)")
        for i in range(50):
            connection.exec_driver_sql(
                "INSERT INTO scratch (v) VALUES (?)", (f"{token}-{i}" if i == 25 else "x" * 40,)
            )
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(make_url(database_url).database)
    assert token.encode() in path.read_bytes()
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM scratch WHERE id = 26")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert token.encode() not in path.read_bytes()
