"""The audit trail: every sign-in, view of a transcript or lead, export and change, with who and
when. ``detail`` names what changed (a status, a count of rows), never a patient's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.console.models import AuditEvent
from bot.console.paging import count_rows, one_page, page_count
from bot.db import session_scope


class Action:
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_REFUSED = "sign_in_refused"  # while locked out after too many failures
    SIGN_OUT = "sign_out"
    SESSION_EXPIRED = "session_expired"
    VIEW_TRANSCRIPT = "view_transcript"
    VIEW_LEAD = "view_lead"
    EXPORT_CSV = "export_csv"
    SET_STATUS = "set_status"
    ADD_NOTE = "add_note"
    ASSIGN = "assign"
    STAFF_ADDED = "staff_added"
    STAFF_DISABLED = "staff_disabled"
    STAFF_ENABLED = "staff_enabled"
    PASSWORD_RESET = "password_reset"
    ERASED = "erased"  # python -m bot erase: a patient's data, on request (bot/erasure.py)
    PURGED = "purged"  # python -m bot purge: screenings past RETENTION_DAYS

    LABELS = {
        SIGN_IN: "Signed in",
        SIGN_IN_FAILED: "Failed sign-in",
        SIGN_IN_REFUSED: "Sign-in refused (locked)",
        SIGN_OUT: "Signed out",
        SESSION_EXPIRED: "Session timed out",
        VIEW_TRANSCRIPT: "Viewed transcript",
        VIEW_LEAD: "Viewed lead",
        EXPORT_CSV: "Exported CSV",
        SET_STATUS: "Changed status",
        ADD_NOTE: "Added note",
        ASSIGN: "Assigned",
        STAFF_ADDED: "Staff account added",
        STAFF_DISABLED: "Staff account disabled",
        STAFF_ENABLED: "Staff account enabled again",
        PASSWORD_RESET: "Password reset",
        ERASED: "Patient's data erased",
        PURGED: "Old screenings purged",
    }


def record(
    action: str,
    actor: str,
    role: str | None = None,
    target: str | None = None,
    detail: str | None = None,
    ip: str | None = None,
    session: Session | None = None,
) -> None:
    """Write one entry, in ``session`` if given (so it commits with the change it records)."""
    event = AuditEvent(
        actor=actor[:255], role=role, action=action, target=target, detail=detail, ip=ip
    )
    if session is not None:
        session.add(event)
        return
    with session_scope() as own:
        own.add(event)


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def search(
    session: Session,
    actor: str | None = None,
    actor_emails: tuple[str, ...] = (),
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    query = select(AuditEvent)
    if actor:
        # Part of an email, or of a staff member's name (``actor_emails``: whose names match).
        wanted = actor.strip().lower()
        found = func.lower(AuditEvent.actor).contains(wanted, autoescape=True)
        query = query.where(or_(found, AuditEvent.actor.in_(actor_emails)) if actor_emails
                            else found)
    if action:
        query = query.where(AuditEvent.action == action)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    total = count_rows(session, query)
    page = max(1, page)
    ordered = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    events = list(session.execute(one_page(ordered, page, per_page)).scalars())
    return AuditPage(events, total, page, per_page)


@dataclass(frozen=True)
class Record:
    """What an entry is about, as the reader may see it."""

    kind: str  # "lead" | "screening"
    id: str
    title: str  # the patient's name for a coordinator, masked for a monitor; or the trial


def _masked_name(name: str) -> str:
    """A name a monitor may see in the audit trail: initials ("M. G.")."""
    return " ".join(f"{part[0]}." for part in name.split() if part) or "•••"


def records(session: Session, events: list[AuditEvent], sees_contacts: bool) -> dict[str, Record]:
    """The lead or screening each entry's ``target`` is, by id, named for the reader."""
    from bot.console import trials
    from bot.console.queue import display_name
    from bot.models import Lead, Screening

    ids = {e.target for e in events if e.target}
    if not ids:
        return {}
    found: dict[str, Record] = {}

    def named(lead: Lead | None) -> str | None:
        if lead is None:
            return None
        name = display_name(lead.first_name, lead.last_name, lead.screening.language)
        return name if sees_contacts else _masked_name(name)

    for lead in session.execute(select(Lead).where(Lead.id.in_(ids))).scalars():
        found[lead.id] = Record("lead", lead.id, named(lead) or "")
    screenings = session.execute(select(Screening).where(Screening.id.in_(ids))).scalars()
    for screening in screenings:
        who = named(screening.lead)
        title = f"{who} · {trials.trial_code(screening.trial_id)}" if who else (
            f"{trials.trial_code(screening.trial_id)} (no contact details)"
        )
        found[screening.id] = Record("screening", screening.id, title)
    return found
