"""The contact queue as staff see it: leads with their screening, filtered and searched, ready
for a page or a CSV file, with contact details already masked for whoever may not see them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from bot.console import masking, trials
from bot.console.accounts import staff_names
from bot.console.formatting import LEAD_STATUS, SCREENING_STATUS, as_utc
from bot.console.paging import count_rows, one_page, page_count
from bot.console.trials import CriterionText
from bot.leads import QueueFilters, queue_leads, queue_query
from bot.models import Lead


@dataclass(frozen=True)
class Note:
    at: datetime
    by: str
    text: str


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

    @property
    def name(self) -> str:
        if self.language == "zh":  # a Chinese name: family name first, no space (王建华)
            return f"{self.last_name}{self.first_name}".strip()
        return f"{self.first_name} {self.last_name}".strip()


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


def load_queue(session: Session, filters: QueueFilters, sees_contacts: bool) -> list[QueueRow]:
    """Every lead matching the filters (for the CSV export)."""
    names = staff_names(session)
    leads = queue_leads(session, filters, search_emails=sees_contacts)
    return [_row(lead, names, sees_contacts) for lead in leads]


def load_queue_page(
    session: Session, filters: QueueFilters, sees_contacts: bool, page: int,
    per_page: int = PER_PAGE,
) -> QueuePage:
    """One page of the queue, newest first; a page past the end shows the last one.

    A search is applied to the decrypted leads (names and emails are encrypted at rest), so a
    searched queue is paged here rather than in SQL.
    """
    if filters.search.strip():
        found = queue_leads(session, filters, search_emails=sees_contacts)
        total = len(found)
        pages = page_count(total, per_page)
        page = min(max(1, page), pages)
        leads = found[(page - 1) * per_page:page * per_page]
    else:
        query = queue_query(filters, search_emails=sees_contacts)
        total = count_rows(session, query)
        pages = page_count(total, per_page)
        page = min(max(1, page), pages)
        leads = session.execute(one_page(query, page, per_page)).scalars().all()
    names = staff_names(session)
    return QueuePage([_row(lead, names, sees_contacts) for lead in leads], total, page, pages)


def load_lead(session: Session, lead_id: str, sees_contacts: bool) -> QueueRow | None:
    lead = session.execute(
        queue_query(QueueFilters()).where(Lead.id == lead_id)
    ).scalar_one_or_none()
    return None if lead is None else _row(lead, staff_names(session), sees_contacts)


def _row(lead: Lead, names: dict[str, str], sees_contacts: bool) -> QueueRow:
    known = (lead.email, lead.phone)

    def shown(text: str | None) -> str:
        return (text or "") if sees_contacts else masking.scrub(text, known)

    return QueueRow(
        id=lead.id,
        screening_id=lead.screening_id,
        received_at=as_utc(lead.created_at),
        trial_id=lead.trial_id,
        trial_code=trials.trial_code(lead.trial_id),
        channel=lead.screening.channel,
        outcome=lead.outcome,
        to_confirm=tuple(trials.criterion(lead.trial_id, cid) for cid in lead.to_confirm or []),
        status=lead.status,
        assigned_to=lead.assigned_to,
        assigned_name=person_shown(names, lead.assigned_to, sees_contacts),
        first_name=shown(lead.first_name),
        last_name=shown(lead.last_name),
        email=lead.email if sees_contacts else masking.mask_email(lead.email),
        phone=lead.phone if sees_contacts else masking.mask_phone(lead.phone),
        other_language=shown(lead.other_language) or None,
        is_minor=lead.is_minor,
        notes=tuple(
            Note(as_utc(e.at), person_shown(names, e.actor, sees_contacts) or "", shown(e.note))
            for e in reversed(lead.events)
            if e.kind == "note"
        ),
        language=lead.screening.language,
    )


CSV_COLUMNS = (
    "received_at", "trial", "trial_code", "channel", "outcome", "status", "assigned_to",
    "first_name", "last_name", "email", "phone", "other_language", "minor", "to_confirm",
    "notes", "lead_id", "screening_id",
)

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
                r.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                r.trial_id,
                r.trial_code,
                r.channel,
                SCREENING_STATUS.get(r.outcome, r.outcome),
                LEAD_STATUS.get(r.status, r.status),
                r.assigned_name or "",
                r.first_name,
                r.last_name,
                r.email,
                r.phone,
                r.other_language or "",
                "yes" if r.is_minor else "no",
                "; ".join(f"{c.label} {c.plain}" for c in r.to_confirm),
                " | ".join(
                    f"{n.at.astimezone(tz):%Y-%m-%d %H:%M} {n.by}: {n.text}" for n in r.notes
                ),
                r.id,
                r.screening_id,
            )
        )
    return out.getvalue()
