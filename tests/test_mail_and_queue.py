"""The email copy through a real SMTP server, and the contact queue on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from bot import leads, mailer
from bot.db import session_scope
from bot.deploy.services import free_port
from bot.models import Lead, OutboxMessage
from bot.settings import PROJECT_ROOT
from tests.test_actions import SENDER, may_qualify


class Inbox(MessageHandler):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


@pytest.fixture()
def smtp_server(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_SECURITY", "none")
    monkeypatch.setenv("MAIL_FROM", "study@site.example")
    yield inbox
    controller.stop()


DETAILS = leads.ContactDetails("Maria", "Garcia", "maria@example.com", "+8613800138000", None)


async def test_the_copy_goes_through_a_real_smtp_server(database_url, smtp_server):
    await may_qualify()
    leads.create_lead(SENDER, DETAILS, "consent wording")
    assert mailer.send_pending() == (1, 0)
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "maria@example.com"
    assert message["From"] == "study@site.example"
    assert "JY231" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "We have submitted the contact information you provided" in body
    assert "+8613800138000" in body
    with session_scope() as session:
        row = session.query(OutboxMessage).one()
        assert row.sent_at is not None and row.attempts == 1


async def test_an_unreachable_mail_server_keeps_the_message_for_a_retry(database_url, monkeypatch):
    await may_qualify()
    leads.create_lead(SENDER, DETAILS, "consent wording")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", "1")  # nothing listens there
    monkeypatch.setenv("SMTP_SECURITY", "none")
    assert mailer.send_pending() == (0, 1)
    with session_scope() as session:
        row = session.query(OutboxMessage).one()
        assert row.sent_at is None and row.last_error
    monkeypatch.delenv("SMTP_HOST")
    assert mailer.send_pending() == (1, 0)
    assert len(list(mailer.outbox_dir().glob("*.eml"))) == 1
    eml = next(mailer.outbox_dir().glob("*.eml")).read_bytes()
    assert message_from_bytes(eml)["To"] == "maria@example.com"


async def test_the_queue_prints_as_json_with_what_the_site_must_confirm(database_url):
    await may_qualify()
    lead_id = leads.create_lead(SENDER, DETAILS, "consent wording")
    leads.set_status(lead_id, "contacted", actor="coordinator@site")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "leads", "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "DATABASE_URL": database_url},
    )
    queue = json.loads(result.stdout)
    assert len(queue) == 1
    lead = queue[0]
    assert lead["first_name"] == "Maria" and lead["email"] == "maria@example.com"
    assert lead["phone"] == "+8613800138000"
    assert lead["status"] == "contacted"
    assert lead["trial"] == "NCT06675422" and lead["outcome"] == "may_qualify"
    # Every criterion the screening marked for the site, as the transcript marks them: here
    # only the routine checks (tests and scores), none left open by this patient's answers.
    with session_scope() as session:
        marked = {
            v.criterion_id
            for v in session.get(Lead, lead["id"]).screening.verdicts
            if v.verdict == "needs_confirmation"
        }
    assert marked and {c["criterion"] for c in lead["to_confirm"]} == marked
    assert not any(c["for_this_patient"] for c in lead["to_confirm"])
    assert lead["channel"] == "rest"


async def test_a_screening_that_did_not_qualify_cannot_become_a_lead(database_url):
    from tests.test_actions import reply, start

    await start()
    await reply("no")
    with pytest.raises(leads.NotEligibleForLead):
        leads.create_lead(SENDER, DETAILS, "consent wording")
