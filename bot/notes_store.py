"""Readers' private notes on the study page, shared through a link and a passcode.

Notes are made and kept in the reader's browser (``bot/site/static/notes.js``); nothing reaches
the server until the reader shares them. A share (:class:`bot.models.NoteShare`) then holds:

* the notes, sealed (Fernet under ``DATA_KEYS``, like answers): the quoted page text and the
  reader's words, which may be about their health;
* the link's token as a SHA-256 hash only: the token itself (``secrets.token_urlsafe``, 256
  bits) is in the link and nowhere else, so a copy of the database opens no link;
* the passcode as an argon2id hash (``argon2-cffi``, the console's parameters);
* when it expires, ``NOTES_SHARE_HOURS`` after it was made (72 by default). An expired share is
  never shown: the first visit after expiry deletes the row, and ``python -m bot purge``
  (:func:`bot.erasure.purge`, through :func:`delete_expired`) deletes the ones nobody visited.

A wrong passcode is counted. Each try is counted *before* the passcode is checked (and given
back when it was right), so even guesses sent all at once get :data:`MAX_WRONG_PASSCODES`
checks in all; the last wrong one locks the share and wipes its notes there and then.

Nothing here logs a note, a passcode or a token.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, null, select, update
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.models import NoteShare, utcnow
from bot.settings import load_settings

MIN_PASSCODE_CHARS = 8
MAX_PASSCODE_CHARS = 128
MAX_NOTES = 50
MAX_QUOTE_CHARS = 500
MAX_NOTE_CHARS = 2000
MAX_TOTAL_CHARS = 50_000  # every quote and note of one share together
MAX_WRONG_PASSCODES = 5
DEFAULT_SHARE_HOURS = 72
MAX_SHARE_HOURS = 30 * 24
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)
TRIAL_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile
# Half a UTF-16 pair (JSON allows "\ud800") cannot be encrypted as UTF-8; NUL breaks PostgreSQL.
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


class NotesError(ValueError):
    """Notes or a passcode the server will not store; ``key`` names the reader's message in
    ``bot/site/locales`` and ``values`` fill it in (never the notes themselves)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class Outcome(str, Enum):
    READY = "ready"  # the link is good: ask for the passcode
    SHOWN = "shown"  # the passcode was right: here are the notes
    WRONG = "wrong"  # refused; tries are left
    LOCKED = "locked"  # too many wrong passcodes: the notes are gone
    BUSY = "busy"  # the last tries are being checked right now: try again in a moment
    EXPIRED = "expired"  # past its time: deleted now
    UNKNOWN = "unknown"  # no such link (never made, mistyped, or deleted)


@dataclass(frozen=True)
class Share:
    """A share just made: the token for the link (the only copy) and when it stops working."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Opened:
    outcome: Outcome
    notes: list[dict[str, str]] = field(default_factory=list)
    tries_left: int = 0
    expires_at: datetime | None = None
    trial_id: str | None = None
    language: str | None = None


def share_hours() -> int:
    """``NOTES_SHARE_HOURS`` from the environment (``.env``): how long a link works; 72 unset."""
    load_settings()
    raw = os.environ.get("NOTES_SHARE_HOURS", "").strip()
    if not raw:
        return DEFAULT_SHARE_HOURS
    try:
        hours = int(raw)
    except ValueError:
        raise ValueError("NOTES_SHARE_HOURS must be a whole number of hours") from None
    if not 1 <= hours <= MAX_SHARE_HOURS:
        raise ValueError(f"NOTES_SHARE_HOURS must be between 1 and {MAX_SHARE_HOURS}")
    return hours


def token_hash(token: str) -> str:
    """What the store keeps of a link's token (and looks it up by)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time in the store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _text(value: Any, limit: int, too_long: str, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise NotesError("notes_share_failed")
    value = _UNSTORABLE.sub("\ufffd", value).strip()
    if required and not value:
        raise NotesError("notes_note_empty")
    if len(value) > limit:
        raise NotesError(too_long, max=limit)
    return value


def clean_notes(raw: Any) -> list[dict[str, str]]:
    """The notes as they will be stored: a list of ``{"quote", "note"}``, each capped; raises
    :class:`NotesError` for anything else (the reader's browser checks the same first)."""
    if not isinstance(raw, list) or not raw:
        raise NotesError("notes_nothing_to_share")
    if len(raw) > MAX_NOTES:
        raise NotesError("notes_too_many", max=MAX_NOTES)
    notes = []
    for item in raw:
        if not isinstance(item, dict):
            raise NotesError("notes_share_failed")
        notes.append({
            "quote": _text(item.get("quote"), MAX_QUOTE_CHARS, "notes_quote_too_long", False),
            "note": _text(item.get("note"), MAX_NOTE_CHARS, "notes_too_long", True),
        })
    if sum(len(n["quote"]) + len(n["note"]) for n in notes) > MAX_TOTAL_CHARS:
        raise NotesError("notes_too_much")
    return notes


def check_passcode(passcode: Any) -> str:
    if not isinstance(passcode, str) or len(passcode) < MIN_PASSCODE_CHARS:
        raise NotesError("notes_passcode_short", min=MIN_PASSCODE_CHARS)
    if len(passcode) > MAX_PASSCODE_CHARS:
        raise NotesError("notes_passcode_long", max=MAX_PASSCODE_CHARS)
    return passcode


def create_share(
    notes: Any,
    passcode: Any,
    trial_id: str,
    language: str,
    now: datetime | None = None,
    hours: int | None = None,
) -> Share:
    """Store the notes sealed, behind a new token and the passcode; the token for the link."""
    cleaned = clean_notes(notes)
    passcode = check_passcode(passcode)
    now = now or utcnow()
    expires_at = now + timedelta(hours=share_hours() if hours is None else hours)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with session_scope() as session:
        session.add(NoteShare(
            token_hash=token_hash(token),
            passcode_hash=_hasher.hash(passcode),
            notes=cleaned,
            trial_id=trial_id[:64],
            language=language[:16],
            created_at=now,
            expires_at=expires_at,
        ))
    return Share(token, expires_at)


def _find(session: Session, token: str) -> NoteShare | None:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    return session.execute(
        select(NoteShare).where(NoteShare.token_hash == token_hash(token))
    ).scalar_one_or_none()


def _state(session: Session, share: NoteShare | None, now: datetime) -> Opened | None:
    """The outcome for a share that cannot be opened (deleting it if it has expired), or None."""
    if share is None:
        return Opened(Outcome.UNKNOWN)
    if _aware(share.expires_at) <= now:
        session.execute(delete(NoteShare).where(NoteShare.id == share.id))
        return Opened(Outcome.EXPIRED)
    if share.locked_at is not None:
        return Opened(Outcome.LOCKED, trial_id=share.trial_id, language=share.language)
    return None


def look_up(token: str, now: datetime | None = None) -> Opened:
    """What the link's page shows before a passcode: READY, or why it cannot be opened."""
    now = now or utcnow()
    with session_scope() as session:
        share = _find(session, token)
        closed = _state(session, share, now)
        if closed is not None:
            return closed
        assert share is not None
        return Opened(Outcome.READY, tries_left=MAX_WRONG_PASSCODES - share.wrong_passcodes,
                      expires_at=_aware(share.expires_at), trial_id=share.trial_id,
                      language=share.language)


def open_share(token: str, passcode: Any, now: datetime | None = None) -> Opened:
    """The notes if ``passcode`` is the share's; else why not, counting a wrong passcode."""
    now = now or utcnow()
    with session_scope() as session:
        share = _find(session, token)
        closed = _state(session, share, now)
        if closed is not None:
            return closed
        assert share is not None
        share_id, passcode_hash = share.id, share.passcode_hash
        about = {"expires_at": _aware(share.expires_at), "trial_id": share.trial_id,
                 "language": share.language}
        # Take one try before checking: concurrent guesses each need a try of their own.
        taken = session.execute(
            update(NoteShare)
            .where(NoteShare.id == share_id, NoteShare.locked_at.is_(None),
                   NoteShare.wrong_passcodes < MAX_WRONG_PASSCODES, NoteShare.expires_at > now)
            .values(wrong_passcodes=NoteShare.wrong_passcodes + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            return Opened(Outcome.BUSY, **about)
        used = session.execute(
            select(NoteShare.wrong_passcodes).where(NoteShare.id == share_id)
        ).scalar_one()
    # The slow check runs outside any transaction, so it holds no lock on the store.
    right = isinstance(passcode, str) and 0 < len(passcode) <= MAX_PASSCODE_CHARS
    if right:
        try:
            _hasher.verify(passcode_hash, passcode)
        except (VerificationError, InvalidHashError):
            right = False
    with session_scope() as session:
        if right:
            session.execute(
                update(NoteShare).where(NoteShare.id == share_id)
                .values(wrong_passcodes=NoteShare.wrong_passcodes - 1)
                .execution_options(synchronize_session=False)
            )
            share = session.get(NoteShare, share_id)
            if share is None or _aware(share.expires_at) <= now or share.notes is None:
                return Opened(Outcome.UNKNOWN)
            return Opened(Outcome.SHOWN, notes=list(share.notes),
                          expires_at=_aware(share.expires_at), trial_id=share.trial_id,
                          language=share.language)
        if used >= MAX_WRONG_PASSCODES:
            session.execute(
                update(NoteShare).where(NoteShare.id == share_id)
                .values(locked_at=now, notes=null())
                .execution_options(synchronize_session=False)
            )
            return Opened(Outcome.LOCKED, trial_id=about["trial_id"],
                          language=about["language"])
        return Opened(Outcome.WRONG, tries_left=MAX_WRONG_PASSCODES - used, **about)


def delete_expired(session: Session, now: datetime | None = None, dry_run: bool = False) -> int:
    """Delete (or, with ``dry_run``, count) the shares whose time is up: the retention purge."""
    now = now or datetime.now(timezone.utc)
    expired = NoteShare.expires_at <= now
    if dry_run:
        return session.execute(
            select(func.count()).select_from(NoteShare).where(expired)
        ).scalar_one()
    return session.execute(
        delete(NoteShare).where(expired).execution_options(synchronize_session=False)
    ).rowcount
