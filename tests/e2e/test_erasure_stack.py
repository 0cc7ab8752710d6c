"""Erasure on the real stack: a patient screened over REST by the running Rasa and action server
(so the tracker events are the ones Rasa wrote) is erased with ``python -m bot erase`` while
the servers run; nothing of them is left in the store, the tracker store or the files, another
patient's screening is untouched, and the erased conversation can start again from nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import transcripts
from bot.db import session_scope
from bot.models import Lead, OptIn, Screening
from bot.settings import PROJECT_ROOT
from tests.e2e.test_rest_screenings import FREE_TEXT, said, screen
from tests.test_erasure import printed_counts, raw_tracker_values, raw_values, sqlite_files

pytestmark = pytest.mark.e2e


def lead_through_rest(stack, sender: str, first: str, email: str, phone: str) -> None:
    _, replies = screen(stack, sender, FREE_TEXT)
    assert "may be able to take part" in said(replies)
    for text in ["yes", first, "Garcia", email, phone, "no", "yes", "yes I agree"]:
        replies = stack.talk(sender, text)
    assert "We have submitted the contact information" in said(replies)


def test_a_patient_screened_by_the_running_stack_is_erased_from_every_store(stack):
    token = uuid.uuid4().hex[:10]
    sender, other = f"erase-{token}", f"keep-{token}"
    first = f"Zoe{''.join(chr(ord('a') + int(c, 16)) for c in token)}"
    email = f"zoe.{token}@example.org"
    # A number no other test gives: erasing by email follows the lead to its phone number, and
    # erases every lead with that number too (the same patient).
    digits = f"{int(token, 16) % 10**8:08d}"
    phone = f"139{digits}"
    lead_through_rest(stack, sender, first, email, f"+86 {phone[:3]} {digits[:4]} {digits[4:]}")
    lead_through_rest(stack, other, "Maria", f"maria.{token}@example.org", "+86 138 0013 8000")
    deadline = time.monotonic() + 30  # the outbox worker sends both copies
    while len([p for p in stack.outbox_dir.glob("*.eml") if token in p.read_text()]) < 2:
        assert time.monotonic() < deadline, "the email copies were not sent"
        time.sleep(0.5)
    assert len(transcripts.read(sender, stack.tracker_store_url).messages) > 40

    going = raw_values(stack.database_url, sender, answers_with="") | raw_tracker_values(
        stack.tracker_store_url, [sender])
    staying = raw_tracker_values(stack.tracker_store_url, [other])
    files = sqlite_files(stack.database_url) + sqlite_files(stack.tracker_store_url)
    assert going and [v for v in going | staying if v not in files] == []

    env = {**os.environ, **stack.services.env, "DATABASE_URL": stack.database_url,
           "TRACKER_STORE_URL": stack.tracker_store_url, "OUTBOX_DIR": str(stack.outbox_dir)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "erase", "--email", email, "--yes"], cwd=PROJECT_ROOT,
        env=env, capture_output=True, text=True, timeout=120,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    for secret in (email, first, phone, sender):
        assert secret not in done.stdout + done.stderr
    erased = printed_counts(done.stdout, "erased:")
    assert (erased["screenings"], erased["leads"], erased["outbox"], erased["outbox files"]) == (
        1, 1, 1, 1)
    assert erased["tracker events"] > 100 and erased["answers"] >= 30
    assert took < 60

    assert transcripts.read(sender, stack.tracker_store_url).messages == []
    assert len(transcripts.read(other, stack.tracker_store_url).messages) > 40
    with session_scope(stack.database_url) as session:
        count = session.execute(
            select(func.count()).select_from(Screening).where(Screening.conversation_id == sender)
        ).scalar_one()
        assert count == 0
        emails = [lead.email for lead in session.execute(select(Lead)).scalars()]
        assert email not in emails and f"maria.{token}@example.org" in emails
        assert email not in [o.email for o in session.execute(select(OptIn)).scalars()]
    assert not [p for p in stack.outbox_dir.glob("*.eml") if email in p.read_text()]
    files = sqlite_files(stack.database_url) + sqlite_files(stack.tracker_store_url)
    plain = {email.encode(), first.encode(), phone.encode()}
    assert [v for v in going | plain if v in files] == []
    assert [v for v in staying if v not in files] == []
    for log in Path(stack.log_dir).glob("*"):
        assert email.encode() not in log.read_bytes()

    # The same conversation id, afterwards: the bot starts again from the greeting.
    replies = stack.talk(sender, "hi")
    assert "not a diagnosis" in said(replies)
