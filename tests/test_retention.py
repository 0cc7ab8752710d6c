"""`python -m bot purge`: screenings that never became leads go after RETENTION_DAYS, with their
answers, verdicts and transcripts; leads, recent screenings and opt-ins stay.

Run on PostgreSQL with ``--database-url``.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from bot import erasure, leads, screenings
from bot.console.models import AuditEvent
from bot.db import session_scope
from bot.models import AnswerRow, OptIn, Screening, VerdictRow
from bot.protocol import get_protocol
from bot.questions import interpret
from tests import test_erasure as support
from tests.test_actions import may_qualify
from tests.test_erasure import (
    printed_counts,
    rasa_says,
    raw_bytes,
    raw_tracker_values,
    raw_values,
    run_cli,
    store_rows,
    tracker_rows,
)

# The erasure tests' fixtures: a key and a spool of each test's own, and Rasa's tracker store.
data_key = support.data_key
tracker_url = support.tracker_url

TRIAL = "NCT06675422"
DAY = 24 * 3600


async def said(url: str, conversation_id: str, text: str, days_ago: float) -> None:
    """The tracker store saves a patient's message and the reply, ``days_ago``."""
    await rasa_says(url, conversation_id, text, at=time.time() - days_ago * DAY)


def answered(conversation: str, token: str) -> None:
    """A screening with consent and one answer that carries ``token``."""
    screenings.start(conversation, TRIAL, "rest")
    screenings.consent(conversation, "consent wording")
    interpretation = interpret(get_protocol(TRIAL).question("age"), "34")
    assert interpretation is not None
    screenings.record_answer(conversation, "age", f"34, ref {token}", interpretation)


def last_touched(conversation: str, days_ago: float) -> None:
    at = datetime.now(timezone.utc) - timedelta(days=days_ago)
    with session_scope() as session:
        session.execute(
            update(Screening).where(Screening.conversation_id == conversation)
            .values(updated_at=at, started_at=at)
            .execution_options(synchronize_session=False)
        )


def screenings_of(conversation: str) -> int:
    with session_scope() as session:
        return session.execute(
            select(func.count()).select_from(Screening)
            .where(Screening.conversation_id == conversation)
        ).scalar_one()


@pytest.fixture()
async def planted(database_url, tracker_url):
    token = uuid.uuid4().hex[:12]
    c = {name: f"{name}{token}" for name in
         ("old", "old_lead", "recent", "old_optin", "restarted", "orphan_old", "orphan_recent")}
    answered(c["old"], f"old{token}")
    await said(tracker_url, c["old"], f"I am 34, ref old{token}", 100)
    await may_qualify(c["old_lead"])
    leads.create_lead(c["old_lead"], leads.ContactDetails(
        "Ann", "Lee", f"lead{token}@example.org", "+442079461111", None), "consent wording")
    await said(tracker_url, c["old_lead"], f"lead{token}", 100)
    answered(c["recent"], f"recent{token}")
    await said(tracker_url, c["recent"], f"recent{token}", 1)
    answered(c["old_optin"], f"optin{token}")
    leads.save_optin(c["old_optin"], TRIAL, f"optin{token}@example.org", "other trials wording")
    # An old screening started over: its conversation has a recent one too.
    answered(c["restarted"], f"restarted{token}")
    screenings.restart(c["restarted"])
    last_touched(c["restarted"], 100)
    answered(c["restarted"], f"restarted2{token}")
    await said(tracker_url, c["restarted"], f"restarted{token}", 100)
    # Conversations that never reached a screening (a question, then gone).
    await said(tracker_url, c["orphan_old"], f"orphan{token}", 100)
    await said(tracker_url, c["orphan_recent"], f"orphanr{token}", 1)
    for name in ("old", "old_lead", "old_optin"):
        last_touched(c[name], 100)
    return token, c


async def test_the_purge_removes_old_screenings_that_never_became_leads(
    database_url, tracker_url, planted, monkeypatch
):
    token, c = planted
    before = store_rows()
    # What goes and what stays, as the files hold it (ciphertext where encrypted).
    going = raw_values(database_url, f"old{token}") | raw_tracker_values(
        tracker_url, [c["old"], c["orphan_old"]])
    staying = raw_values(database_url, f"recent{token}") | raw_tracker_values(
        tracker_url, [c["recent"]])
    files = raw_bytes(database_url, tracker_url)
    assert [v for v in going | staying if v not in files] == [] and going and staying

    monkeypatch.setenv("RETENTION_DAYS", "90")
    dry = run_cli("purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert store_rows() == before
    done = run_cli("purge")
    assert done.returncode == 0, done.stderr
    assert printed_counts(dry.stdout, "would purge (older than 90 days):") == printed_counts(
        done.stdout, "purged (older than 90 days):")
    purged = printed_counts(done.stdout, "purged (older than 90 days):")
    # old, old_optin and the restarted one's first screening; their transcripts where no
    # screening is left (old, old_optin had none written) and the old orphan's.
    assert (purged["screenings"], purged["tracker events"], purged["leads"]) == (3, 6, 0)
    assert purged["answers"] == 3 and purged["verdicts"] > 0 and purged["optins"] == 0

    assert screenings_of(c["old"]) == screenings_of(c["old_optin"]) == 0
    assert screenings_of(c["old_lead"]) == screenings_of(c["recent"]) == 1
    assert screenings_of(c["restarted"]) == 1  # the recent one
    for name, events in {"old": 0, "orphan_old": 0, "old_lead": 3, "recent": 3, "restarted": 3,
                         "orphan_recent": 3}.items():
        assert tracker_rows(tracker_url, c[name]) == events, name
    with session_scope() as session:
        # The opt-in stays, its own consent; only its link to the screening is gone.
        optin = session.execute(select(OptIn)).scalar_one()
        assert optin.email == f"optin{token}@example.org" and optin.screening_id is None
        assert session.execute(select(func.count()).select_from(AnswerRow)).scalar_one() == (
            before["answers"] - 3)
        assert session.execute(select(func.count()).select_from(VerdictRow)).scalar_one() == (
            before["verdicts"] - purged["verdicts"])
        audit = session.execute(
            select(AuditEvent).where(AuditEvent.action == "purged")
        ).scalar_one()
    assert audit.actor == "command line" and token not in f"{audit.target} {audit.detail}"
    assert "older than 90 days" in audit.detail and "screenings 3" in audit.detail

    files = raw_bytes(database_url, tracker_url)
    assert [v for v in going if v in files] == []
    assert f"old{token}".encode() not in files and f"orphan{token}".encode() not in files
    assert [v for v in staying if v not in files] == []

    again = run_cli("purge")
    assert printed_counts(again.stdout, "purged (older than 90 days):")["screenings"] == 0


async def test_the_retention_period_comes_from_the_environment(
    database_url, tracker_url, planted, monkeypatch
):
    monkeypatch.setenv("RETENTION_DAYS", "120")
    assert erasure.retention_days() == 120
    assert erasure.purge().counts.screenings == 0  # nothing is 120 days old
    monkeypatch.setenv("RETENTION_DAYS", "none")
    done = run_cli("purge")
    assert done.returncode == 2 and "RETENTION_DAYS" in done.stderr
    monkeypatch.delenv("RETENTION_DAYS")
    assert erasure.retention_days() == 90
    # What `bot run` does before it starts the servers.
    assert erasure.purge_at_start() == (
        "retention: removed 3 screening(s) older than 90 days that never became leads, and 6 "
        "tracker event(s)")
    assert erasure.purge_at_start() is None
