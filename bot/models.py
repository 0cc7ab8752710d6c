"""The tables: screenings and their answers and verdicts, leads and their history, opt-ins, outbox.

Written in the SQLAlchemy 1.4 style that carries over to 2.0 (``select()``, sessions as context
managers, ``Mapped`` annotations). Contact details and answers are health data: they are never
logged, and every column that holds them is encrypted at rest (:mod:`bot.sealed`): randomised
for what is only read back (:data:`Sensitive`, :data:`SensitiveJSON`), deterministic for the
conversation id, which is looked up by equality (on Twilio it is the patient's phone number).
SQL cannot search the randomised columns: a comparison on one raises rather than match nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, declarative_base, relationship

from bot.sealed import SealedId, SealedJSON, SealedText

# Named constraints, so a migration can alter or drop one on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))

# Columns holding health data or contact details: encrypted on write, decrypted on read.
Sensitive = SealedText
SensitiveJSON = SealedJSON


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class ScreeningStatus:
    STARTED = "started"  # the introduction was shown; no health question asked yet
    DECLINED = "declined"  # did not agree to health questions
    IN_PROGRESS = "in_progress"
    NOT_ELIGIBLE = "not_eligible"
    MAY_QUALIFY = "may_qualify"
    MAY_QUALIFY_CONFIRM = "may_qualify_confirm"
    STOPPED = "stopped"  # the patient stopped; partial answers are kept
    RESTARTED = "restarted"  # the patient started over; a new screening follows
    # No questions asked: the row behind a lead from the study page's contact form
    # (LeadSource.CONTACT_FORM), so the lead, its erasure and its history work as a chat's do.
    NOT_SCREENED = "not_screened"

    OPEN = (STARTED, IN_PROGRESS)
    FINISHED = (NOT_ELIGIBLE, MAY_QUALIFY, MAY_QUALIFY_CONFIRM)


class LeadSource:
    """How a lead reached the queue: through the chat's screening, or the study page's contact
    form (a patient who would rather not chat: not pre-screened, no answers to read)."""

    CHAT = "chat"
    CONTACT_FORM = "contact_form"
    ALL = (CHAT, CONTACT_FORM)


class LeadStatus:
    NEW = "new"
    CONTACTED = "contacted"
    SCHEDULED = "scheduled"
    ENROLLED = "enrolled"
    NOT_ENROLLED = "not_enrolled"
    ALL = (NEW, CONTACTED, SCHEDULED, ENROLLED, NOT_ENROLLED)


class Screening(Base):
    __tablename__ = "screenings"

    id: Mapped[str] = Column(String(32), primary_key=True, default=new_id)
    # Sealed, the id of a conversation fits 255 characters up to 173 bytes (Rasa's own limit
    # for its sender_id column is 255 too).
    conversation_id: Mapped[str] = Column(SealedId(255), nullable=False, index=True)
    trial_id: Mapped[str] = Column(String(64), nullable=False, index=True)
    channel: Mapped[str] = Column(String(32), nullable=False, default="unknown")
    language: Mapped[str] = Column(String(16), nullable=False, default="en")
    status: Mapped[str] = Column(String(32), nullable=False, default=ScreeningStatus.STARTED)
    started_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = Column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )
    consented_at: Mapped[datetime | None] = Column(DateTime(timezone=True))
    consent_text: Mapped[str | None] = Column(Text)
    # The version of the consent words the patient agreed to (bot/consent_versions.yml).
    consent_version: Mapped[str | None] = Column(String(64))
    finished_at: Mapped[datetime | None] = Column(DateTime(timezone=True))
    # The question the patient stopped at or was ruled out by: the funnel's drop-off point.
    last_question_id: Mapped[str | None] = Column(String(64))
    is_minor: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    crisis_help_shown: Mapped[bool] = Column(Boolean, nullable=False, default=False)

    answers: Mapped[list[AnswerRow]] = relationship(
        "AnswerRow", back_populates="screening", order_by="AnswerRow.id"
    )
    verdicts: Mapped[list[VerdictRow]] = relationship("VerdictRow", back_populates="screening")
    lead: Mapped[Lead | None] = relationship("Lead", back_populates="screening", uselist=False)


class AnswerRow(Base):
    """One answer as given. A correction supersedes the earlier row; both are kept."""

    __tablename__ = "answers"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    screening_id: Mapped[str] = Column(
        String(32), ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    question_id: Mapped[str] = Column(String(64), nullable=False)
    raw_text: Mapped[str] = Column(Sensitive, nullable=False)  # as the patient typed it
    value: Mapped[Any] = Column(SensitiveJSON)  # as understood; null when unsure
    unsure: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    # One of the question's declared exceptions that the patient described: the site confirms.
    exception: Mapped[str | None] = Column(String(64))
    # Read back to the patient and not yet confirmed: kept, but not used by the engine.
    pending: Mapped[bool] = Column(Boolean, nullable=False, default=False, server_default=false())
    understood: Mapped[str] = Column(Sensitive, nullable=False)  # in words, for staff
    answered_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    superseded_at: Mapped[datetime | None] = Column(DateTime(timezone=True))

    screening: Mapped[Screening] = relationship("Screening", back_populates="answers")


class VerdictRow(Base):
    """The engine's latest verdict on one criterion for one screening."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("screening_id", "criterion_id"),)

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    screening_id: Mapped[str] = Column(
        String(32), ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False, index=True
    )
    criterion_id: Mapped[str] = Column(String(64), nullable=False)
    verdict: Mapped[str] = Column(String(32), nullable=False)
    patient_specific: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    updated_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    screening: Mapped[Screening] = relationship("Screening", back_populates="verdicts")


class Lead(Base):
    """A patient who may qualify and agreed to be contacted: one row in the site's queue."""

    __tablename__ = "leads"

    id: Mapped[str] = Column(String(32), primary_key=True, default=new_id)
    screening_id: Mapped[str] = Column(
        String(32), ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    trial_id: Mapped[str] = Column(String(64), nullable=False, index=True)
    first_name: Mapped[str] = Column(Sensitive, nullable=False)
    last_name: Mapped[str] = Column(Sensitive, nullable=False)
    email: Mapped[str] = Column(Sensitive, nullable=False)
    phone: Mapped[str] = Column(Sensitive, nullable=False)
    other_language: Mapped[str | None] = Column(Sensitive)
    is_minor: Mapped[bool] = Column(Boolean, nullable=False, default=False)
    consent_text: Mapped[str] = Column(Text, nullable=False)
    consent_version: Mapped[str | None] = Column(String(64))
    consented_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False)
    outcome: Mapped[str] = Column(String(32), nullable=False)
    source: Mapped[str] = Column(
        String(16), nullable=False, default=LeadSource.CHAT, server_default=LeadSource.CHAT
    )
    to_confirm: Mapped[list[str]] = Column(JSON, nullable=False, default=list)
    status: Mapped[str] = Column(String(32), nullable=False, default=LeadStatus.NEW, index=True)
    assigned_to: Mapped[str | None] = Column(String(255))
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = Column(
        DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow
    )

    screening: Mapped[Screening] = relationship("Screening", back_populates="lead")
    events: Mapped[list[LeadEvent]] = relationship(
        "LeadEvent", back_populates="lead", order_by="LeadEvent.id"
    )


class LeadEvent(Base):
    """A change to a lead (status, note, assignment), with who made it and when."""

    __tablename__ = "lead_events"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = Column(
        String(32), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor: Mapped[str] = Column(String(255), nullable=False)
    kind: Mapped[str] = Column(String(16), nullable=False)  # status | note | assign
    old_value: Mapped[str | None] = Column(String(255))
    new_value: Mapped[str | None] = Column(String(255))
    note: Mapped[str | None] = Column(Sensitive)

    lead: Mapped[Lead] = relationship("Lead", back_populates="events")


class OptIn(Base):
    """A patient's request to hear about other trials."""

    __tablename__ = "optins"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    screening_id: Mapped[str | None] = Column(
        String(32), ForeignKey("screenings.id", ondelete="SET NULL")
    )
    trial_id: Mapped[str] = Column(String(64), nullable=False)
    email: Mapped[str] = Column(Sensitive, nullable=False)
    consent_text: Mapped[str] = Column(Text, nullable=False)
    consent_version: Mapped[str | None] = Column(String(64))
    consented_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class OutboxMessage(Base):
    """An email to send. Written in the same transaction as what it reports, sent after."""

    __tablename__ = "outbox"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    to_addr: Mapped[str] = Column(Sensitive, nullable=False)
    subject: Mapped[str] = Column(Text, nullable=False)
    body: Mapped[str] = Column(Sensitive, nullable=False)
    sent_at: Mapped[datetime | None] = Column(DateTime(timezone=True))
    attempts: Mapped[int] = Column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = Column(Text)  # the error's type only, never its text
    # The worker holding the row, until when, and when a failed message is due again
    # (bot.mailer: claimed by exactly one sender, on SQLite and PostgreSQL alike).
    claimed_by: Mapped[str | None] = Column(String(64))
    claimed_until: Mapped[datetime | None] = Column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = Column(DateTime(timezone=True))


class NoteShare(Base):
    """A reader's private notes on a study page, shared through a link and a passcode.

    The notes live in the reader's browser until they share them; then they are kept here, sealed,
    until ``expires_at`` (``NOTES_SHARE_HOURS``), and ``python -m bot purge`` deletes the row. The
    link's token and the passcode are stored as hashes only (SHA-256 of the token, for the lookup;
    argon2id of the passcode). After ``bot.notes_store.MAX_WRONG_PASSCODES`` wrong passcodes the
    share is locked and its notes are wiped at once. Nothing here names the reader.
    """

    __tablename__ = "note_shares"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = Column(String(64), nullable=False, unique=True)
    passcode_hash: Mapped[str] = Column(String(255), nullable=False)  # argon2id, PHC string
    # [{"quote": ..., "note": ...}, ...]; None once the share is locked.
    notes: Mapped[list[dict[str, str]] | None] = Column(SensitiveJSON)
    trial_id: Mapped[str] = Column(String(64), nullable=False)
    language: Mapped[str] = Column(String(16), nullable=False, default="en")
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, index=True)
    wrong_passcodes: Mapped[int] = Column(Integer, nullable=False, default=0, server_default="0")
    locked_at: Mapped[datetime | None] = Column(DateTime(timezone=True))
