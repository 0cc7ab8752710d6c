"""The contact queue as staff see it: leads with their screening, filtered and searched, ready
for a page or a CSV file, with contact details already masked for whoever may not see them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

import phonenumbers
from sqlalchemy.orm import Session

from bot.console import masking, trials
from bot.console.accounts import staff_names
from bot.console.formatting import LEAD_STATUS, SCREENING_STATUS, as_utc, channel_name
from bot.console.paging import count_rows, one_page, page_count
from bot.console.trials import CriterionText
from bot.lead_summary import KeyAnswer, summarise
from bot.leads import (
    QueueFilters,
    load_leads,
    queue_ids,
    queue_leads,
    queue_query,
    sorted_in_python,
)
from bot.models import Lead, LeadSource, LeadStatus


@dataclass(frozen=True)
class Note:
    at: datetime
    by: str
    text: str


@dataclass(frozen=True)
class Phone:
    """A phone number as staff read and dial it."""

    shown: str  # "+1 415-555-0134": the international format for its country
    tel: str | None  # "tel:+14155550134", None when it is not a number one can dial or masked


def phone_of(raw: str | None, sees_contacts: bool) -> Phone:
    if not sees_contacts:
        return Phone(masking.mask_phone(raw), None)
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return Phone(text, None)
    if not phonenumbers.is_possible_number(number):
        return Phone(text, None)
    return Phone(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
    )


@dataclass(frozen=True)
class LeadSummary:
    """A lead's summary as shown (masked like the rest of the row for a monitor)."""

    age: str | None
    sex: str | None
    medicines: tuple[str, ...]
    answers: tuple[KeyAnswer, ...]


def days_between(start: datetime, now: datetime) -> int:
    return max(0, (now - start).days)


@dataclass(frozen=True)
class QueueRow:
    id: str
    screening_id: str
    received_at: datetime
    trial_id: str
    trial_code: str
    channel: str
    outcome: str
    to_confirm: tuple[CriterionText, ...]
    status: str
    assigned_to: str | None  # an email, to match the assignment form
    assigned_name: str | None
    first_name: str
    last_name: str
    email: str
    phone: str
    other_language: str | None
    is_minor: bool
    notes: tuple[Note, ...]
    language: str = "en"  # the language the patient was screened in
    summary: LeadSummary | None = None
    phone_tel: str | None = None  # a tel: link, for whoever may see the number
    days_waiting: int = 0  # whole days since the lead arrived
    overdue: bool = False  # still new after the site's QUEUE_OVERDUE_DAYS
    source: str = LeadSource.CHAT  # the chat, or the study page's contact form

    @property
    def pre_screened(self) -> bool:
        """False for a lead from the study page's contact form: no answers, nothing screened."""
        return self.source != LeadSource.CONTACT_FORM

    @property
    def channel_name(self) -> str:
        return channel_name(self.channel)

    @property
    def mailto(self) -> str | None:
        return f"mailto:{self.email}" if self.email and "•" not in self.email else None

    @property
    def name(self) -> str:
        return display_name(self.first_name, self.last_name, self.language)


def display_name(first: str | None, last: str | None, language: str | None) -> str:
    if language == "zh":  # a Chinese name: family name first, no space (王建华)
        return f"{last or ''}{first or ''}".strip()
    return f"{first or ''} {last or ''}".strip()


def person_shown(names: dict[str, str], actor: str | None, sees_contacts: bool) -> str | None:
    """Staff are shown by name; an actor without an account is masked like any email."""
    if actor is None:
        return None
    if actor in names:
        return names[actor]
    return actor if sees_contacts else masking.scrub(actor)


PER_PAGE = 50


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int  # leads matching the filters, on every page
    page: int
    pages: int


@dataclass(frozen=True)
class Waiting:
    """How long a lead may wait: ``overdue_days`` (QUEUE_OVERDUE_DAYS), counted up to ``now``."""

    overdue_days: int = 2
    now: datetime | None = None

    def at(self) -> datetime:
        return self.now or datetime.now(timezone.utc)


def load_queue(
    session: Session, filters: QueueFilters, sees_contacts: bool, waiting: Waiting = Waiting()
) -> list[QueueRow]:
    """Every lead matching the filters (for the CSV export)."""
    names = staff_names(session)
    leads = queue_leads(session, filters, search_emails=sees_contacts)
    return [_row(lead, names, sees_contacts, waiting) for lead in leads]


def load_queue_page(
    session: Session, filters: QueueFilters, sees_contacts: bool, page: int,
    per_page: int = PER_PAGE, waiting: Waiting = Waiting(),
) -> QueuePage:
    """One page of the queue, newest first; a page past the end shows the last one.

    A search is applied to the decrypted leads (names and emails are encrypted at rest), so a
    searched queue is paged here rather than in SQL.
    """
    if sorted_in_python(filters):
        found = queue_ids(session, filters, search_emails=sees_contacts)
        total = len(found)
        pages = page_count(total, per_page)
        page = min(max(1, page), pages)
        leads = load_leads(session, found[(page - 1) * per_page:page * per_page])
    else:
        query = queue_query(filters, search_emails=sees_contacts)
        total = count_rows(session, query)
        pages = page_count(total, per_page)
        page = min(max(1, page), pages)
        leads = session.execute(one_page(query, page, per_page)).scalars().all()
    names = staff_names(session)
    rows = [_row(lead, names, sees_contacts, waiting) for lead in leads]
    return QueuePage(rows, total, page, pages)


def load_lead(
    session: Session, lead_id: str, sees_contacts: bool, waiting: Waiting = Waiting()
) -> QueueRow | None:
    lead = session.execute(
        queue_query(QueueFilters()).where(Lead.id == lead_id)
    ).scalar_one_or_none()
    return None if lead is None else _row(lead, staff_names(session), sees_contacts, waiting)


def _row(lead: Lead, names: dict[str, str], sees_contacts: bool, waiting: Waiting) -> QueueRow:
    known = (lead.email, lead.phone)

    def shown(text: str | None) -> str:
        return (text or "") if sees_contacts else masking.scrub(text, known)

    summary = summarise(lead)
    received = as_utc(lead.created_at)
    days = days_between(received, waiting.at())
    phone = phone_of(lead.phone, sees_contacts)

    return QueueRow(
        id=lead.id,
        screening_id=lead.screening_id,
        received_at=received,
        trial_id=lead.trial_id,
        trial_code=trials.trial_code(lead.trial_id),
        channel=lead.screening.channel,
        outcome=lead.outcome,
        to_confirm=tuple(
            trials.criterion(lead.trial_id, cid, cid in summary.for_this_patient)
            for cid in summary.to_confirm
        ),
        status=lead.status,
        assigned_to=lead.assigned_to,
        assigned_name=person_shown(names, lead.assigned_to, sees_contacts),
        first_name=shown(lead.first_name),
        last_name=shown(lead.last_name),
        email=lead.email if sees_contacts else masking.mask_email(lead.email),
        phone=phone.shown,
        other_language=shown(lead.other_language) or None,
        is_minor=lead.is_minor,
        notes=tuple(
            Note(as_utc(e.at), person_shown(names, e.actor, sees_contacts) or "", shown(e.note))
            for e in reversed(lead.events)
            if e.kind == "note"
        ),
        language=lead.screening.language,
        summary=LeadSummary(
            age=shown(summary.age) or None,
            sex=shown(summary.sex) or None,
            medicines=tuple(shown(m) for m in summary.medicines),
            answers=tuple(
                KeyAnswer(a.question_id, a.question, shown(a.understood), a.unsure)
                for a in summary.answers
            ),
        ),
        phone_tel=phone.tel,
        days_waiting=days,
        overdue=lead.status == LeadStatus.NEW and days > waiting.overdue_days,
        source=lead.source,
    )


CSV_COLUMNS = (
    "received_at", "days_waiting", "overdue", "trial", "trial_code", "channel", "outcome",
    "status", "assigned_to", "first_name", "last_name", "email", "phone", "other_language",
    "minor", "age", "sex", "medicines", "to_confirm", "notes", "lead_id", "screening_id",
)


def iso_time(value: datetime, tz: tzinfo) -> str:
    """ISO 8601 with the offset, in the console's time zone: 2025-11-03T10:00:00+01:00."""
    return value.astimezone(tz).isoformat(timespec="seconds")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[\d\s().-]+")


def _cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def to_csv(rows: Iterable[QueueRow], tz: tzinfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            _cell(v)
            for v in (
                iso_time(r.received_at, tz),
                r.days_waiting,
                "yes" if r.overdue else "no",
                r.trial_id,
                r.trial_code,
                r.channel_name,
                SCREENING_STATUS.get(r.outcome, r.outcome),
                LEAD_STATUS.get(r.status, r.status),
                r.assigned_name or "",
                r.first_name,
                r.last_name,
                r.email,
                r.phone,
                r.other_language or "",
                "yes" if r.is_minor else "no",
                (r.summary.age or "") if r.summary else "",
                (r.summary.sex or "") if r.summary else "",
                "; ".join(r.summary.medicines) if r.summary else "",
                "; ".join(
                    f"{c.label} {c.plain}" + (" (for this patient)" if c.for_this_patient else "")
                    for c in r.to_confirm
                ),
                " | ".join(f"{iso_time(n.at, tz)} {n.by}: {n.text}" for n in r.notes),
                r.id,
                r.screening_id,
            )
        )
    return out.getvalue()
