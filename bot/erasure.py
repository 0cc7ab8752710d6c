"""Erasing one patient's data on request, and the retention purge of screenings that never became
leads.

A patient is found by email, phone number or conversation id, and then by everything linked to
what was found: a lead's conversation brings in every screening of that conversation, a lead's
email its other leads, opt-ins and outbox messages, and so on until nothing new turns up. What is
found is deleted from every place it lives: screenings, answers, verdicts, leads and their history
(notes included), opt-ins, outbox rows and their ``.eml`` files, leads spooled to disk while the
database was down (bot/spool.py), and Rasa's tracker events.

Contact details are encrypted at rest with randomised encryption, so they cannot be matched in
SQL: candidates are loaded and compared in Python, after decryption, normalised the way
:mod:`bot.contact` stores them (emails without regard to case, phone numbers in E.164). The
conversation id is encrypted deterministically and is matched in SQL.

Deleted data must not stay in the database files either. On SQLite every connection has
``secure_delete`` on (bot/db.py), which overwrites deleted cells with zeros; after an erasure both
SQLite files (ours and the tracker store's) are vacuumed, which rewrites every page, and their
write-ahead log is checkpointed and truncated, so no earlier copy of a page survives in the
``-wal`` file. On PostgreSQL the affected tables get ``VACUUM FULL`` (plain ``VACUUM`` with
``--no-vacuum-full``): see :func:`_vacuum` for what each does and does not guarantee.

The audit record names the request by an opaque id and holds counts only.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from bot import notes_store, transcripts
from bot.contact import clean_email, clean_phone
from bot.db import get_engine, session_scope
from bot.models import (
    AnswerRow,
    Lead,
    LeadEvent,
    OptIn,
    OutboxMessage,
    Screening,
    VerdictRow,
)
from bot.settings import load_settings

AUDIT_ACTOR = "command line"
ERASED = "erased"  # bot.console.audit.Action.ERASED
PURGED = "purged"  # bot.console.audit.Action.PURGED
DEFAULT_RETENTION_DAYS = 90
WHATSAPP = "whatsapp:"  # Rasa's Twilio channel names a WhatsApp conversation "whatsapp:+E164"


class ErasureError(ValueError):
    """An identifier that cannot name a patient (the message never repeats it)."""


def normalise_email(text: str) -> str:
    """An email as compared: validated form where possible, case-folded."""
    return (clean_email(text) or text.strip()).casefold()


def normalise_phone(text: str) -> str:
    """A phone number as compared: E.164, the form bot/contact.py stores."""
    return clean_phone(text) or text.strip()


@dataclass
class Found:
    """Everything that belongs to one patient, by opaque id."""

    conversations: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)  # normalised
    phones: set[str] = field(default_factory=set)  # E.164
    screening_ids: set[str] = field(default_factory=set)
    lead_ids: set[str] = field(default_factory=set)
    optin_ids: set[int] = field(default_factory=set)
    outbox_ids: set[int] = field(default_factory=set)


@dataclass
class Counts:
    """What an erasure or a purge removed (or would remove), row by row."""

    screenings: int = 0
    answers: int = 0
    verdicts: int = 0
    leads: int = 0
    lead_events: int = 0
    optins: int = 0
    outbox: int = 0
    outbox_files: int = 0
    spooled_leads: int = 0
    tracker_events: int = 0
    note_shares: int = 0  # readers' shared notes past their time (bot.notes_store): purge only

    def items(self) -> list[tuple[str, int]]:
        return [(name, getattr(self, name)) for name in self.__dataclass_fields__]

    def describe(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.items())

    @property
    def total(self) -> int:
        return sum(count for _, count in self.items())


# --- finding a patient ------------------------------------------------------------------------


def _phone_conversations(phone: str) -> set[str]:
    """The conversation ids Rasa's Twilio channel gives this number (SMS and WhatsApp)."""
    return {phone, f"{WHATSAPP}{phone}"}


def find(
    session: Session,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    conversations: Iterable[str] = (),
) -> Found:
    """The patient's rows, following every link until nothing new is found."""
    found = Found(
        conversations={c.strip() for c in conversations if c.strip()},
        emails={normalise_email(e) for e in emails if e.strip()},
        phones={normalise_phone(p) for p in phones if p.strip()},
    )
    for phone in found.phones:
        found.conversations |= _phone_conversations(phone)

    # Contact details are compared after decryption: load every candidate once, normalised.
    leads = [
        (lead_id, normalise_email(lead_email), normalise_phone(lead_phone), conversation)
        for lead_id, lead_email, lead_phone, conversation in session.execute(
            select(Lead.id, Lead.email, Lead.phone, Screening.conversation_id)
            .join(Screening, Screening.id == Lead.screening_id)
        )
    ]
    optins = [
        (optin_id, normalise_email(optin_email), conversation)
        for optin_id, optin_email, conversation in session.execute(
            select(OptIn.id, OptIn.email, Screening.conversation_id)
            .outerjoin(Screening, Screening.id == OptIn.screening_id)
        )
    ]

    while True:
        before = (len(found.conversations), len(found.emails), len(found.phones))
        for lead_id, lead_email, lead_phone, conversation in leads:
            if (
                conversation in found.conversations
                or lead_email in found.emails
                or lead_phone in found.phones
            ):
                found.lead_ids.add(lead_id)
                found.conversations.add(conversation)
                found.emails.add(lead_email)
                found.phones.add(lead_phone)
        for optin_id, optin_email, conversation in optins:
            if (conversation is not None and conversation in found.conversations) or (
                optin_email in found.emails
            ):
                found.optin_ids.add(optin_id)
                found.emails.add(optin_email)
                if conversation is not None:
                    found.conversations.add(conversation)
        for phone in found.phones:
            found.conversations |= _phone_conversations(phone)
        if (len(found.conversations), len(found.emails), len(found.phones)) == before:
            break

    if found.conversations:
        found.screening_ids = set(
            session.execute(
                select(Screening.id).where(Screening.conversation_id.in_(found.conversations))
            ).scalars()
        )
        # A screening found by conversation brings its lead and opt-ins (already followed above
        # for leads; opt-ins may have lost their link to the conversation's newest screening).
        found.lead_ids |= set(
            session.execute(
                select(Lead.id).where(Lead.screening_id.in_(found.screening_ids))
            ).scalars()
        )
        found.optin_ids |= set(
            session.execute(
                select(OptIn.id).where(OptIn.screening_id.in_(found.screening_ids))
            ).scalars()
        )
    if found.emails:
        found.outbox_ids = {
            row_id
            for row_id, to_addr in session.execute(select(OutboxMessage.id, OutboxMessage.to_addr))
            if normalise_email(to_addr) in found.emails
        }
    return found


# --- the tracker store ------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_secure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _tracker_engine(url: str) -> Engine | None:
    """A read-write engine on Rasa's tracker store, or None when it does not exist yet.

    The console reads the tracker store read-only (bot/transcripts.py); erasure is the one place
    that writes to it, with ``secure_delete`` on so deleted events are zeroed in the file.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or not Path(parsed.database).exists():
            return None  # never create Rasa's file
        path = quote(os.path.abspath(parsed.database))
        engine = create_engine(
            f"sqlite:///file:{path}?mode=rw&uri=true", future=True, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_secure)
        return engine
    return create_engine(url, future=True, hide_parameters=True)


def _sender_ids(conversations: Iterable[str]) -> list[str]:
    """Every ``sender_id`` these conversations' events may carry: the form the tracker store
    writes now and, while a key rotation is under way, the older keys' forms."""
    forms = getattr(transcripts, "stored_sender_ids", None)
    ids: set[str] = set()
    for conversation in conversations:
        ids.add(transcripts.stored_sender_id(conversation))
        if forms is not None:
            ids.update(forms(conversation))
    return sorted(ids)


def _delete_tracker_events(engine: Engine, sender_ids: list[str], dry_run: bool) -> int:
    if not sender_ids:
        return 0
    events = transcripts.events
    removed = 0
    try:
        with engine.begin() as connection:
            for start in range(0, len(sender_ids), 500):
                chunk = sender_ids[start:start + 500]
                if dry_run:
                    removed += connection.execute(
                        select(func.count()).where(events.c.sender_id.in_(chunk))
                    ).scalar_one()
                else:
                    removed += connection.execute(
                        delete(events).where(events.c.sender_id.in_(chunk))
                    ).rowcount
    except (OperationalError, ProgrammingError) as error:
        if "events" in str(error.orig) and ("no such table" in str(error.orig)
                                           or "does not exist" in str(error.orig)):
            return 0  # Rasa has not written anything yet
        raise
    return removed


# --- files ------------------------------------------------------------------------------------


def _outbox_dir() -> Path:
    from bot.mailer import outbox_dir

    return outbox_dir()


def _wipe(path: Path) -> None:
    """Overwrite a file with zeros, then remove it."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


def _outbox_files(outbox_ids: set[int], emails: set[str]) -> list[Path]:
    """The delivered copies: by the row's file name, and any other file addressed to them."""
    folder = _outbox_dir()
    if not folder.is_dir():
        return []
    named = {folder / f"{row_id:08d}.eml" for row_id in outbox_ids}
    files = []
    for path in sorted(folder.glob("*.eml")):
        if path in named:
            files.append(path)
            continue
        try:
            with open(path, "rb") as handle:
                message = email.message_from_binary_file(handle, policy=email.policy.default)
            recipients = [a.addr_spec for a in message["To"].addresses] if message["To"] else []
        except (OSError, ValueError, AttributeError, IndexError):
            continue
        if any(normalise_email(r) in emails for r in recipients):
            files.append(path)
    return files


def _spooled_leads(found: Found) -> tuple[list[Path], bool]:
    """Spooled leads (waiting, or set aside as rejected) that belong to the patient, and whether
    they named an email, phone or conversation not found yet (then the search runs again)."""
    from bot import crypto, spool
    from bot.leads import LEAD_SPOOL

    folder = spool.spool_dir(LEAD_SPOOL)
    paths, grew = [], False
    for path in sorted([*folder.glob("*.item"), *folder.glob("*.rejected")]):
        try:
            item = json.loads(crypto.decrypt_text(path.read_text(encoding="ascii")))
            details = item.get("details") or {}
            conversation = str(item.get("conversation_id") or "")
            item_email = normalise_email(str(details.get("email") or ""))
            item_phone = normalise_phone(str(details.get("phone") or ""))
        except (OSError, ValueError, crypto.UnreadableValue, AttributeError):
            continue  # being replayed right now, or not ours to read
        if (conversation in found.conversations or item_email in found.emails
                or item_phone in found.phones):
            paths.append(path)
            for known, value in ((found.conversations, conversation),
                                 (found.emails, item_email), (found.phones, item_phone)):
                if value and value not in known:
                    grew = True
    return paths, grew


def find_everywhere(
    emails: Iterable[str] = (), phones: Iterable[str] = (), conversations: Iterable[str] = ()
) -> tuple[Found, list[Path]]:
    """:func:`find` in the store, together with the spooled leads, each leading to the other."""
    emails, phones, conversations = set(emails), set(phones), set(conversations)
    while True:
        with session_scope() as session:
            found = find(session, emails, phones, conversations)
        spooled, grew = _spooled_leads(found)
        if not grew:
            return found, spooled
        emails, phones, conversations = found.emails, found.phones, found.conversations


# --- deleting ---------------------------------------------------------------------------------


def _count_or_delete(session: Session, model, column, ids: set, dry_run: bool) -> int:  # type: ignore[no-untyped-def]
    if not ids:
        return 0
    if dry_run:
        return session.execute(select(func.count()).where(column.in_(ids))).scalar_one()
    return session.execute(
        delete(model).where(column.in_(ids)).execution_options(synchronize_session=False)
    ).rowcount


def _delete_store_rows(
    session: Session,
    screening_ids: set[str],
    lead_ids: set[str],
    optin_ids: set[int],
    outbox_ids: set[int],
    dry_run: bool,
) -> Counts:
    """Rows of our store, children first (FK cascades are not relied on: counts are wanted)."""
    counts = Counts()
    counts.lead_events = _count_or_delete(session, LeadEvent, LeadEvent.lead_id, lead_ids, dry_run)
    counts.leads = _count_or_delete(session, Lead, Lead.id, lead_ids, dry_run)
    counts.answers = _count_or_delete(
        session, AnswerRow, AnswerRow.screening_id, screening_ids, dry_run
    )
    counts.verdicts = _count_or_delete(
        session, VerdictRow, VerdictRow.screening_id, screening_ids, dry_run
    )
    counts.optins = _count_or_delete(session, OptIn, OptIn.id, optin_ids, dry_run)
    counts.screenings = _count_or_delete(session, Screening, Screening.id, screening_ids, dry_run)
    counts.outbox = _count_or_delete(session, OutboxMessage, OutboxMessage.id, outbox_ids, dry_run)
    return counts


STORE_TABLES = ("lead_events", "leads", "answers", "verdicts", "optins", "screenings", "outbox",
                "audit_events", "note_shares")


def _vacuum(engine: Engine, tables: Iterable[str], full: bool = True) -> str:
    """Leave no copy of deleted rows in the database's files, as far as the database allows.

    SQLite: ``VACUUM`` rewrites the file from the live rows only (so even pages written before
    ``secure_delete`` was on lose their stale copies), then the write-ahead log is checkpointed
    and truncated to zero bytes. Returns "busy" when another connection's open read kept the WAL
    from being truncated (the data is then still overwritten at the next checkpoint).

    PostgreSQL: plain ``VACUUM`` removes the dead rows from the tables and their indexes and
    makes the space reusable, but does not zero it: the bytes stay in the pages' free space until
    it is reused (tests/test_erasure.py finds them there). ``VACUUM FULL`` (the default) writes
    each table, its TOAST table and indexes anew from the live rows and unlinks the old files; it
    holds an exclusive lock on each table while it runs. Neither reaches the write-ahead log
    segments, base backups or WAL archives, which keep the rows until they are recycled or
    expire, nor the freed blocks of the unlinked files on the disk.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("VACUUM")
            for _ in range(20):
                busy, _log, _done = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).one()
                if not busy:
                    return "vacuumed, write-ahead log truncated"
                time.sleep(0.25)
        return "busy"
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            connection.exec_driver_sql(f"VACUUM {'FULL ' if full else ''}{table}")
    return "vacuumed" + (" (full)" if full else "")


@dataclass
class Result:
    counts: Counts
    request_id: str | None  # the audit record's target; None for a dry run
    cleanup: list[str] = field(default_factory=list)  # what was done to the files


def erase(
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    conversations: Iterable[str] = (),
    dry_run: bool = False,
    vacuum_full: bool = True,
) -> Result:
    """Remove a patient's data everywhere; with ``dry_run``, only count it."""
    emails, phones, conversations = list(emails), list(phones), list(conversations)
    for value in phones:
        if clean_phone(value) is None:
            raise ErasureError("--phone is not a phone number (include the country code)")
    if not (emails or phones or conversations):
        raise ErasureError("name the patient by --email, --phone or --conversation")
    kinds = [k for k, v in (("email", emails), ("phone", phones), ("conversation", conversations))
             if v]

    found, spooled = find_everywhere(emails, phones, conversations)
    tracker = _tracker_engine(transcripts.tracker_store_url())
    try:
        if not dry_run:
            # Spooled leads first, each under the lock the replayer takes: one stored meanwhile
            # is in the database by now, and is found again below.
            for path in spooled:
                _wipe_spooled(path)
        # Then the tracker store: if our store's transaction then fails, a second run still
        # finds the patient (by their screenings) and finishes the job.
        tracker_events = (
            _delete_tracker_events(tracker, _sender_ids(found.conversations), dry_run)
            if tracker is not None else 0
        )
        request_id = uuid.uuid4().hex
        with session_scope() as session:
            found = find(session, found.emails, found.phones, found.conversations)
            files = _outbox_files(found.outbox_ids, found.emails)
            counts = _delete_store_rows(
                session, found.screening_ids, found.lead_ids, found.optin_ids, found.outbox_ids,
                dry_run,
            )
            counts.tracker_events = tracker_events
            counts.outbox_files = len(files)
            counts.spooled_leads = len(spooled)
            if not dry_run:
                _audit(session, ERASED, request_id,
                       f"by {', '.join(kinds)}; {counts.describe()}")
        result = Result(counts, None if dry_run else request_id)
        if dry_run or not counts.total:
            return result
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                _wipe(path)
        _reclaim(result, tracker if tracker_events else None, vacuum_full)
        return result
    finally:
        if tracker is not None:
            tracker.dispose()


def _reclaim(result: Result, tracker: Engine | None, vacuum_full: bool) -> None:
    """Vacuum the store, and the tracker store when events went, so no deleted page remains."""
    result.cleanup.append(f"database: {_vacuum(get_engine(), STORE_TABLES, vacuum_full)}")
    if tracker is not None:
        result.cleanup.append(f"tracker store: {_vacuum(tracker, ['events'], vacuum_full)}")


def _wipe_spooled(path: Path) -> None:
    """Wipe a spooled lead while holding the lock bot/spool.py's replayer takes on it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # stored meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                _wipe(path)
    finally:
        os.close(fd)


def _audit(session: Session, action: str, request_id: str | None, detail: str) -> None:
    from bot.console import audit

    audit.record(action, AUDIT_ACTOR, target=request_id, detail=detail, session=session)


# --- retention --------------------------------------------------------------------------------


def retention_days() -> int:
    """``RETENTION_DAYS`` from the environment (``.env``); 90 when unset."""
    load_settings()
    raw = os.environ.get("RETENTION_DAYS", "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        raise ErasureError("RETENTION_DAYS must be a whole number of days") from None
    if days < 1:
        raise ErasureError("RETENTION_DAYS must be 1 or more")
    return days


def purge(
    days: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    vacuum_full: bool = True,
) -> Result:
    """Delete screenings that never became leads and were last touched ``days`` ago or more,
    with their answers and verdicts, and the tracker events of conversations left with no
    screening whose last event is as old.

    Opt-ins are kept: each is a separate consent to hear about other trials, with its own email
    and wording, that lasts until the patient withdraws it (``python -m bot erase --email``); the
    purge only cuts its link to the screening.

    Readers' shared notes whose link has expired (``NOTES_SHARE_HOURS``) go too, whatever
    ``days`` is: :func:`bot.notes_store.delete_expired`. (They are never shown after expiry
    either way; this removes the ones nobody opened again.)
    """
    days = retention_days() if days is None else days
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    with session_scope() as session:
        screening_ids = set(
            session.execute(
                select(Screening.id)
                .outerjoin(Lead, Lead.screening_id == Screening.id)
                .where(Lead.id.is_(None), Screening.updated_at < cutoff)
            ).scalars()
        )
        purged_conversations = set(
            session.execute(
                select(Screening.conversation_id).where(Screening.id.in_(screening_ids))
            ).scalars()
        ) if screening_ids else set()
        kept_conversations = set(
            session.execute(
                select(Screening.conversation_id)
                .where(Screening.id.not_in(screening_ids) if screening_ids else True)
                .distinct()
            ).scalars()
        )
    tracker = _tracker_engine(transcripts.tracker_store_url())
    try:
        tracker_events = 0
        old_senders: list[str] = []
        if tracker is not None:
            old_senders = _old_senders(tracker, cutoff.timestamp(), _sender_ids(kept_conversations))
            tracker_events = _delete_tracker_events(tracker, old_senders, dry_run)
        request_id = uuid.uuid4().hex
        with session_scope() as session:
            counts = _delete_store_rows(session, screening_ids, set(), set(), set(), dry_run)
            counts.tracker_events = tracker_events
            counts.note_shares = notes_store.delete_expired(session, now, dry_run)
            if not dry_run and counts.total:
                _audit(session, PURGED, request_id,
                       f"older than {days} days; conversations "
                       f"{len(purged_conversations - kept_conversations)}; {counts.describe()}")
        result = Result(counts, None if dry_run or not counts.total else request_id)
        if dry_run or not counts.total:
            return result
        _reclaim(result, tracker if tracker_events else None, vacuum_full)
        return result
    finally:
        if tracker is not None:
            tracker.dispose()


def _old_senders(engine: Engine, cutoff: float, keep: list[str]) -> list[str]:
    """Tracker conversations whose newest event is older than ``cutoff`` and that no screening
    in the store still belongs to."""
    events = transcripts.events
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(events.c.sender_id)
                .group_by(events.c.sender_id)
                .having(func.max(events.c.timestamp) < cutoff)
            ).scalars()
            old = set(rows)
    except (OperationalError, ProgrammingError) as error:
        if "no such table" in str(error.orig) or "does not exist" in str(error.orig):
            return []
        raise
    return sorted(old - set(keep))


def purge_at_start() -> str | None:
    """The retention purge ``python -m bot run`` does before it starts the servers (nothing has
    the files open then); a line to print when it removed something."""
    days = retention_days()
    result = purge(days)
    if not result.counts.total:
        return None
    shares = result.counts.note_shares
    return (f"retention: removed {result.counts.screenings} screening(s) older than {days} days "
            f"that never became leads, and {result.counts.tracker_events} tracker event(s)"
            + (f"; {shares} expired note share(s)" if shares else ""))
