"""Helpers for the console tests: screenings and leads written straight into the tables, a
tracker store written the way Rasa writes it, and signing in through the real form, CSRF token
included."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from bot import crypto
from bot.db import session_scope
from bot.models import AnswerRow, Lead, LeadEvent, Screening, VerdictRow

TRIAL = "NCT06675422"
PASSWORD = "correct horse battery staple"
COORDINATOR = "cora@site.example"
MONITOR = "mo@site.example"

# Rasa 3.6's SQLTrackerStore table, as it creates it.
EVENTS_DDL = """
CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY,
    sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT,
    intent_name VARCHAR(255),
    action_name VARCHAR(255),
    data TEXT
)
"""


@dataclass
class Tracker:
    """Writes events the way the encrypted tracker store (channels/tracker_store.py) does."""

    url: str

    def say(self, sender: str, who: str, text_: str, at: datetime,
            buttons: list[dict] | None = None, intent: str | None = "inform") -> None:
        if who == "patient":
            data = {"event": "user", "timestamp": at.timestamp(), "text": text_,
                    "parse_data": {"intent": {"name": intent, "confidence": 0.98},
                                   "text": text_}, "input_channel": "rest"}
            row = {"type_name": "user", "intent_name": intent, "action_name": None}
        else:
            data = {"event": "bot", "timestamp": at.timestamp(), "text": text_,
                    "data": {"buttons": buttons, "elements": None, "quick_replies": None}}
            row = {"type_name": "bot", "intent_name": None, "action_name": None}
        def seal(value: str | None) -> str | None:
            return None if value is None else crypto.encrypt_text(value)

        engine = create_engine(self.url)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                     "action_name, data) VALUES (:s, :t, :ts, :i, :a, :d)"),
                {"s": crypto.encrypt_deterministic(sender), "t": row["type_name"],
                 "ts": at.timestamp(), "i": seal(row["intent_name"]),
                 "a": seal(row["action_name"]), "d": seal(json.dumps(data))},
            )
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, action_name, data) "
                     "VALUES (:s, 'action', :ts, :a, :d)"),
                {"s": crypto.encrypt_deterministic(sender), "ts": at.timestamp(),
                 "a": seal("action_listen"), "d": seal("{}")},
            )
        engine.dispose()


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **kw):
    page = client.get("/sign-in").get_data(as_text=True)
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(page), **kw},
    )


def post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str]):
    """Submit a form from ``page_url`` as a browser would, with that page's CSRF token."""
    page = client.get(page_url).get_data(as_text=True)
    return client.post(action, data={**data, "csrf_token": csrf_token(page)})


T0 = datetime(2025, 11, 3, 9, 0, tzinfo=timezone.utc)  # a Monday


def add_screening(
    conversation_id: str,
    status: str = "may_qualify_confirm",
    answers: dict[str, tuple[str, object, str]] | None = None,
    verdicts: dict[str, tuple[str, bool]] | None = None,
    started_at: datetime = T0,
    channel: str = "rest",
    consented: bool = True,
    last_question_id: str | None = None,
    trial_id: str = TRIAL,
) -> str:
    """A screening with answers (question: (as typed, value, understood)) and verdicts."""
    with session_scope() as session:
        screening = Screening(
            conversation_id=conversation_id, trial_id=trial_id, channel=channel, status=status,
            started_at=started_at, updated_at=started_at + timedelta(minutes=5),
            consented_at=started_at + timedelta(minutes=1) if consented else None,
            finished_at=started_at + timedelta(minutes=5)
            if status in ("not_eligible", "may_qualify", "may_qualify_confirm") else None,
            last_question_id=last_question_id,
        )
        session.add(screening)
        session.flush()
        for i, (qid, (raw, value, understood)) in enumerate((answers or {}).items()):
            session.add(AnswerRow(
                screening_id=screening.id, question_id=qid, raw_text=raw, value=value,
                unsure=value is None, understood=understood,
                answered_at=started_at + timedelta(minutes=2, seconds=i),
            ))
        for cid, (verdict, specific) in (verdicts or {}).items():
            session.add(VerdictRow(screening_id=screening.id, criterion_id=cid, verdict=verdict,
                                   patient_specific=specific))
        return screening.id


def add_lead(
    screening_id: str,
    first: str = "Maria",
    last: str = "Garcia",
    email: str = "maria.garcia@example.com",
    phone: str = "+8613800138000",
    status: str = "new",
    to_confirm: list[str] | None = None,
    created_at: datetime = T0,
    other_language: str | None = None,
) -> str:
    with session_scope() as session:
        screening = session.get(Screening, screening_id)
        lead = Lead(
            screening_id=screening_id, trial_id=screening.trial_id, first_name=first,
            last_name=last, email=email, phone=phone, consent_text="You may contact me.",
            consented_at=created_at, outcome=screening.status, to_confirm=to_confirm or [],
            status=status, created_at=created_at, other_language=other_language,
        )
        session.add(lead)
        session.flush()
        if status != "new":
            session.add(LeadEvent(lead_id=lead.id, actor=COORDINATOR, kind="status",
                                  old_value="new", new_value=status))
        return lead.id

