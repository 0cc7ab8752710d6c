"""The contact queue: leads, their history, notification opt-ins, and the queue as data."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql import Select

from bot import lead_summary, spool
from bot.db import session_scope
from bot.messages import msg
from bot.models import (
    Lead,
    LeadEvent,
    LeadSource,
    LeadStatus,
    OptIn,
    OutboxMessage,
    Screening,
    ScreeningStatus,
    utcnow,
)
from bot.protocol import get_protocol

log = logging.getLogger(__name__)

LEAD_SPOOL = "leads"


@dataclass(frozen=True)
class ContactDetails:
    first_name: str
    last_name: str
    email: str
    phone: str
    other_language: str | None


class NotEligibleForLead(Exception):
    """Only a screening that ended as 'may qualify' can become a lead."""


def create_lead(
    conversation_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str = "en",
    consent_version: str | None = None,
    consented_at: datetime | None = None,
) -> str:
    """Put the patient in the queue and the email copy in the outbox, in one transaction.

    Idempotent per screening: submitting again updates the same lead, and the email copy is
    queued only for a new lead or changed contact details, so the same lead submitted twice,
    one after the other or at the same moment, is stored once and emailed once. (At the same
    moment, one insert wins the lead's unique screening; the other is rolled back, outbox row
    and all, and tried again as an update.) ``consented_at`` is when the patient agreed, for a
    lead stored late from the spool.
    """
    try:
        return _store_lead(conversation_id, details, consent_text, language, consent_version,
                           consented_at)
    except IntegrityError:
        return _store_lead(conversation_id, details, consent_text, language, consent_version,
                           consented_at)


def _store_lead(
    conversation_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str,
    consent_version: str | None,
    consented_at: datetime | None,
) -> str:
    with session_scope() as session:
        screening = session.execute(
            select(Screening)
            .where(
                Screening.conversation_id == conversation_id,
                Screening.status.in_(
                    (ScreeningStatus.MAY_QUALIFY, ScreeningStatus.MAY_QUALIFY_CONFIRM)
                ),
            )
            .order_by(Screening.started_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        if screening is None:
            raise NotEligibleForLead(conversation_id)
        to_confirm = sorted(
            v.criterion_id for v in screening.verdicts if v.verdict == "needs_confirmation"
            and v.patient_specific
        )
        lead = screening.lead
        unchanged = lead is not None and _details_of(lead) == _normalised(details)
        if lead is None:
            lead = Lead(screening_id=screening.id, trial_id=screening.trial_id)
        lead.first_name = details.first_name
        lead.last_name = details.last_name
        lead.email = details.email
        lead.phone = details.phone
        lead.other_language = details.other_language or None
        lead.is_minor = screening.is_minor
        lead.consent_text = consent_text
        lead.consent_version = consent_version
        lead.consented_at = consented_at or utcnow()
        lead.outcome = screening.status
        lead.to_confirm = to_confirm
        session.add(lead)
        session.flush()
        if not unchanged:
            session.add(_confirmation_email(screening, details, language))
        return lead.id


def _normalised(details: ContactDetails) -> ContactDetails:
    return replace(details, other_language=details.other_language or None)


def _details_of(lead: Lead) -> ContactDetails:
    return ContactDetails(lead.first_name, lead.last_name, lead.email, lead.phone,
                          lead.other_language or None)


class Stored(str, Enum):
    """Where a submitted lead went."""

    QUEUE = "queue"  # in the database: the study team sees it now
    SPOOL = "spool"  # the database was unreachable: kept encrypted on disk, stored when it is back


def submit_lead(
    conversation_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str = "en",
    consent_version: str | None = None,
) -> Stored:
    """The patient's turn: store the lead and its email copy, or spool them if the database is
    unreachable. Raises :class:`NotEligibleForLead` only when the database says so."""
    consented_at = utcnow()
    try:
        create_lead(conversation_id, details, consent_text, language, consent_version,
                    consented_at)
    except (OperationalError, InterfaceError):
        spool.write(LEAD_SPOOL, {
            "conversation_id": conversation_id,
            "details": asdict(details),
            "consent_text": consent_text,
            "language": language,
            "consent_version": consent_version,
            "consented_at": consented_at.isoformat(),
        })
        log.warning("database unreachable: lead spooled, to be stored when it is back")
        return Stored.SPOOL
    return Stored.QUEUE


# The channel of the row behind a lead from the study page's contact form.
FORM_CHANNEL = "site_form"
FORM_PREFIX = "site-form:"
_SUBMISSION = re.compile(r"^[0-9a-f]{32}$")


def form_conversation(submission: str) -> str:
    """The conversation id of one contact form as the page rendered it (its random ``submission``
    id): the same form sent twice is one lead, a new visit is a new one."""
    if not _SUBMISSION.match(submission or ""):
        raise ValueError("a submission id is 32 hexadecimal digits")
    return FORM_PREFIX + submission


def create_form_lead(
    submission: str,
    trial_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str = "en",
    consent_version: str | None = None,
    consented_at: datetime | None = None,
) -> str:
    """A lead from the study page's contact form: not pre-screened, no answers.

    It has a screening row all the same (channel ``site_form``, status ``not_screened``, no
    health consent), so erasure, the console's pages and the lead's history treat it as any
    other; the funnel leaves it out. Idempotent per form like :func:`create_lead` per screening,
    and the email copy goes through the outbox, queued for a new lead or changed details.
    """
    conversation_id = form_conversation(submission)
    try:
        return _store_form_lead(conversation_id, trial_id, details, consent_text, language,
                                consent_version, consented_at)
    except IntegrityError:
        return _store_form_lead(conversation_id, trial_id, details, consent_text, language,
                                consent_version, consented_at)


def _store_form_lead(
    conversation_id: str,
    trial_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str,
    consent_version: str | None,
    consented_at: datetime | None,
) -> str:
    with session_scope() as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == conversation_id)
        ).scalar_one_or_none()
        if screening is None:
            screening = Screening(
                conversation_id=conversation_id, trial_id=trial_id, channel=FORM_CHANNEL,
                language=language, status=ScreeningStatus.NOT_SCREENED,
            )
            session.add(screening)
            session.flush()
        lead = screening.lead
        unchanged = lead is not None and _details_of(lead) == _normalised(details)
        if lead is None:
            lead = Lead(screening_id=screening.id, trial_id=screening.trial_id,
                        source=LeadSource.CONTACT_FORM)
        lead.first_name = details.first_name
        lead.last_name = details.last_name
        lead.email = details.email
        lead.phone = details.phone
        lead.other_language = details.other_language or None
        lead.is_minor = False  # no age was asked: the study team asks
        lead.consent_text = consent_text
        lead.consent_version = consent_version
        lead.consented_at = consented_at or utcnow()
        lead.outcome = ScreeningStatus.NOT_SCREENED
        lead.to_confirm = []
        session.add(lead)
        session.flush()
        if not unchanged:
            session.add(_confirmation_email(screening, details, language))
        return lead.id


def submit_form_lead(
    submission: str,
    trial_id: str,
    details: ContactDetails,
    consent_text: str,
    language: str = "en",
    consent_version: str | None = None,
) -> Stored:
    """The study page's turn: store the form's lead and its email copy, or spool them while the
    database is unreachable (the outbox worker stores them when it is back)."""
    form_conversation(submission)  # a bad id fails here, not in the replay
    consented_at = utcnow()
    try:
        create_form_lead(submission, trial_id, details, consent_text, language, consent_version,
                         consented_at)
    except (OperationalError, InterfaceError):
        spool.write(LEAD_SPOOL, {
            "source": LeadSource.CONTACT_FORM,
            "submission": submission,
            "trial_id": trial_id,
            "details": asdict(details),
            "consent_text": consent_text,
            "language": language,
            "consent_version": consent_version,
            "consented_at": consented_at.isoformat(),
        })
        log.warning("database unreachable: form lead spooled, to be stored when it is back")
        return Stored.SPOOL
    return Stored.QUEUE


def _store_spooled(item: dict[str, Any]) -> None:
    details = ContactDetails(**item["details"])
    consent = (item["consent_text"], item["language"], item.get("consent_version"),
               datetime.fromisoformat(item["consented_at"]))
    try:
        if item.get("source") == LeadSource.CONTACT_FORM:
            create_form_lead(item["submission"], item["trial_id"], details, *consent)
        else:
            create_lead(item["conversation_id"], details, *consent)
    except (OperationalError, InterfaceError) as exc:
        raise spool.Retry() from exc


def replay_spooled_leads() -> tuple[int, int]:
    """Store the leads spooled while the database was down: (stored, still waiting)."""
    return spool.replay(LEAD_SPOOL, _store_spooled)


def _confirmation_email(
    screening: Screening, details: ContactDetails, language: str
) -> OutboxMessage:
    protocol = get_protocol(screening.trial_id)
    values = {
        "first_name": details.first_name,
        "last_name": details.last_name,
        "email": details.email,
        "phone": details.phone,
        "language": details.other_language or msg("language_default", language),
        "site_name": protocol.site_name(language),
        "title": protocol.title_in(language),
        "trial_id": protocol.id,
        "trial_code": protocol.code,
    }
    return OutboxMessage(
        to_addr=details.email,
        subject=msg("email_subject", language, **values),
        body=msg("email_body", language, **values),
    )


def save_optin(
    conversation_id: str | None,
    trial_id: str,
    email: str,
    consent_text: str,
    consent_version: str | None = None,
) -> int:
    """Keep a patient's request to hear about other trials, with its consent. From the chat it
    is linked to the conversation's newest screening; from the study page's sign-up
    (``conversation_id`` None) to none."""
    with session_scope() as session:
        screening = None if conversation_id is None else session.execute(
            select(Screening)
            .where(Screening.conversation_id == conversation_id)
            .order_by(Screening.started_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        optin = OptIn(
            screening_id=screening.id if screening else None,
            trial_id=trial_id,
            email=email,
            consent_text=consent_text,
            consent_version=consent_version,
            consented_at=utcnow(),
        )
        session.add(optin)
        session.flush()
        return optin.id


def _change(lead_id: str, field: str, kind: str, value: str | None, actor: str) -> None:
    """Set one field of a lead, keeping the change with who made it in the lead's history."""
    with session_scope() as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise LookupError(lead_id)
        old = getattr(lead, field)
        if old != value:
            session.add(LeadEvent(lead_id=lead.id, actor=actor, kind=kind, old_value=old,
                                  new_value=value))
            setattr(lead, field, value)


def set_status(lead_id: str, status: str, actor: str) -> None:
    if status not in LeadStatus.ALL:
        raise ValueError(f"unknown lead status {status!r}")
    _change(lead_id, "status", "status", status, actor)


def assign(lead_id: str, assignee: str | None, actor: str) -> None:
    """Give the lead to a staff member (None: to nobody), kept in its history."""
    _change(lead_id, "assigned_to", "assign", (assignee or "").strip() or None, actor)


def add_note(lead_id: str, note: str, actor: str) -> None:
    note = note.strip()
    if not note:
        raise ValueError("empty note")
    with session_scope() as session:
        if session.get(Lead, lead_id) is None:
            raise LookupError(lead_id)
        session.add(LeadEvent(lead_id=lead_id, actor=actor, kind="note", note=note))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def lead_as_dict(lead: Lead) -> dict[str, Any]:
    protocol = get_protocol(lead.trial_id)
    criteria = {c.id: c for c in protocol.criteria}
    specific = lead_summary.for_this_patient(lead.screening.verdicts, lead.to_confirm)
    return {
        "id": lead.id,
        "trial": lead.trial_id,
        "trial_code": protocol.code,
        "created_at": _iso(lead.created_at),
        "status": lead.status,
        "outcome": lead.outcome,
        "source": lead.source,
        "pre_screened": lead.source != LeadSource.CONTACT_FORM,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "other_language": lead.other_language,
        "is_minor": lead.is_minor,
        "channel": lead.screening.channel,
        "conversation_id": lead.screening.conversation_id,
        "consented_at": _iso(lead.consented_at),
        "consent_text": lead.consent_text,
        "consent_version": lead.consent_version,
        "to_confirm": [
            {"criterion": cid, "label": criteria[cid].label, "plain": criteria[cid].plain.get(),
             "for_this_patient": cid in specific}
            if cid in criteria
            else {"criterion": cid, "for_this_patient": cid in specific}
            for cid in lead_summary.to_confirm(
                lead.trial_id, lead.screening.verdicts, lead.to_confirm
            )
        ],
        "assigned_to": lead.assigned_to,
        "notes": [
            {"at": _iso(e.at), "by": e.actor, "note": e.note}
            for e in lead.events
            if e.kind == "note"
        ],
    }


OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.SCHEDULED)

# Columns the queue sorts by in SQL; "name" is sorted after decryption (see queue_leads).
_SQL_SORTS = {
    "received": Lead.created_at,
    "status": Lead.status,
    "trial": Lead.trial_id,
    "assigned": Lead.assigned_to,
}
SORTS = ("received", "name", *(k for k in _SQL_SORTS if k != "received"))


@dataclass(frozen=True)
class QueueFilters:
    trial_id: str | None = None
    status: str | None = None
    since: datetime | None = None  # when the lead arrived, inclusive
    until: datetime | None = None  # exclusive
    search: str = ""  # words of a name, or of an email where emails may be searched
    # The day's work for this staff member: every new lead, and the open ones given to them.
    todo_for: str | None = None
    assigned_to: str | None = None  # only the leads given to this staff member
    sort: str = "received"  # one of SORTS
    descending: bool = True

    def describe(self) -> str:
        """The filters for the audit trail: which ones were used, never the words searched for."""
        parts = [
            "to do" if self.todo_for else "",
            "mine" if self.assigned_to else "",
            f"trial={self.trial_id}" if self.trial_id else "",
            f"status={self.status}" if self.status else "",
            f"since={self.since.date()}" if self.since else "",
            f"until={self.until.date()}" if self.until else "",
            "search" if self.search.strip() else "",
        ]
        return ", ".join(p for p in parts if p) or "none"


def _search_terms(search: str) -> list[str]:
    return [t for t in re.split(r"\s+", search.strip().lower()) if t][:5]


def search_matches(lead: Any, search: str, search_emails: bool = False) -> bool:
    """Whether ``lead`` matches the words searched for. Every word must be found in a name (or an
    email, for those allowed to search by email), so a monitor cannot find a patient by guessing
    an address.

    Names and emails are encrypted at rest, so the search runs here on the decrypted lead, not
    in SQL (the queue is at most some thousands of leads).
    """
    fields = [lead.first_name, lead.last_name] + ([lead.email] if search_emails else [])
    # ``lead`` is a Lead or a row of its names (and email).
    haystacks = [(f or "").lower() for f in fields]
    return all(any(term in h for h in haystacks) for term in _search_terms(search))


def queue_query(filters: QueueFilters, search_emails: bool = False) -> Select:
    """The queue, newest first, filtered by trial, status and date.

    The words of ``filters.search`` are not applied here: names and emails are encrypted, so
    SQL cannot search them; :func:`search_matches` is applied to the rows (see
    :func:`queue_leads`).
    """
    query = select(Lead).options(
        selectinload(Lead.screening).selectinload(Screening.verdicts),
        selectinload(Lead.screening).selectinload(Screening.answers),
        selectinload(Lead.events),
    )
    return _filtered(query, filters)


def _filtered(query: Select, filters: QueueFilters, order: bool = True) -> Select:
    if order:
        column = _SQL_SORTS.get(filters.sort, Lead.created_at)
        first = column.desc() if filters.descending else column.asc()
        query = query.order_by(first, Lead.created_at.desc(), Lead.id)
    if filters.todo_for:
        query = query.where(
            (Lead.status == LeadStatus.NEW)
            | ((Lead.assigned_to == filters.todo_for) & Lead.status.in_(OPEN_STATUSES))
        )
    if filters.assigned_to:
        query = query.where(Lead.assigned_to == filters.assigned_to)
    if filters.trial_id:
        query = query.where(Lead.trial_id == filters.trial_id)
    if filters.status:
        query = query.where(Lead.status == filters.status)
    if filters.since:
        query = query.where(Lead.created_at >= filters.since)
    if filters.until:
        query = query.where(Lead.created_at < filters.until)
    return query


def queue_leads(session: Session, filters: QueueFilters, search_emails: bool = False) -> list[Lead]:
    """The queue's leads, in the filters' order, with the search applied."""
    if not sorted_in_python(filters):
        return list(session.execute(queue_query(filters, search_emails)).scalars())
    return load_leads(session, queue_ids(session, filters, search_emails))


def queue_ids(session: Session, filters: QueueFilters, search_emails: bool = False) -> list[str]:
    """The ids of the queue's leads in order, for a search or a sort by name: only the names
    (and emails) of the filtered leads are read and decrypted, not whole leads, so a page of a
    searched or name-sorted queue loads only its own leads."""
    fields = [Lead.first_name, Lead.last_name] + ([Lead.email] if search_emails else [])
    rows = [
        row
        for row in session.execute(_filtered(select(Lead.id, *fields), filters))
        if search_matches(row, filters.search, search_emails)
    ]
    if filters.sort == "name":
        rows.sort(
            key=lambda row: ((row.last_name or "").casefold(), (row.first_name or "").casefold()),
            reverse=filters.descending,
        )
    return [row.id for row in rows]


def load_leads(session: Session, ids: list[str]) -> list[Lead]:
    """The leads ``ids`` names, whole, in that order."""
    leads: dict[str, Lead] = {}
    for start in range(0, len(ids), 500):  # under every database's limit of parameters
        chunk = ids[start:start + 500]
        query = queue_query(QueueFilters()).where(Lead.id.in_(chunk))
        leads.update((lead.id, lead) for lead in session.execute(query).scalars())
    return [leads[i] for i in ids if i in leads]


def sorted_in_python(filters: QueueFilters) -> bool:
    """Whether the queue is ordered and filtered here rather than in SQL: a search or a sort by
    name (names are encrypted at rest, so SQL can neither match nor order them)."""
    return bool(_search_terms(filters.search)) or filters.sort == "name"


def status_counts(session: Session, filters: QueueFilters) -> dict[str, int]:
    """How many leads have each status, within the filters' trial and dates (not the status,
    view or search): the counts beside the queue's tabs."""
    wide = replace(filters, status=None, todo_for=None, assigned_to=None, search="")
    query = _filtered(select(Lead.status, func.count()), wide, order=False).group_by(Lead.status)
    counts = dict.fromkeys(LeadStatus.ALL, 0)
    counts.update({status: n for status, n in session.execute(query)})
    return counts


def queue_as_dicts(trial_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    with session_scope() as session:
        filters = QueueFilters(trial_id=trial_id, status=status)
        return [lead_as_dict(lead) for lead in queue_leads(session, filters)]
