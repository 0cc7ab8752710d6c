"""No patient text and no contact detail in any log, on the error paths too.

A real screening over REST plants recognisable values: a first name, an email, a phone number
and answer texts. Twice the patients' database is locked (as a backup or a stuck process would),
so the actions that store an answer or the lead fail inside the action server while the tracker
Rasa sends them holds every planted value. Then every log file both servers wrote (their stdout
and stderr) is scanned: the failures are there, the planted values are not.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.test_rest_screenings import FREE_TEXT, is_read_back, last_question, said

pytestmark = pytest.mark.e2e

NAME, SURNAME = "Zebediah", "Quillfeather"
EMAIL = "zebediah.quillfeather@example.net"
PHONE = "+86 139 2468 1357"
ANSWER = "Xylophonium"  # a medicine nobody has, in the answer texts
PLANTED = [NAME, SURNAME, EMAIL, "zebediah.quillfeather", "139 2468 1357", "13924681357", ANSWER,
           "2468 1357", "24681357"]


@contextmanager
def locked(database_url: str) -> Iterator[None]:
    """Hold the database's write lock: every write of the action server fails after waiting."""
    path = make_url(database_url).database
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def log_text(log_dir: Path) -> str:
    files = sorted(p for p in log_dir.glob("*") if p.is_file())
    return "\n".join(p.read_text(errors="replace") for p in files)


def answer_until(stack, sender: str, replies: list[dict], stop_at: str) -> list[dict]:
    """Answer from FREE_TEXT until the bot asks ``stop_at``."""
    for _ in range(90):
        if is_read_back(replies):
            replies = stack.talk(sender, "yes")
            continue
        qid = last_question(replies)
        if qid == stop_at or qid is None:
            return replies
        replies = stack.talk(sender, FREE_TEXT[qid])
    pytest.fail("the screening did not reach " + stop_at)


def test_a_failing_action_logs_neither_patient_text_nor_contact_details(stack):
    sender = "private-logs-1"
    before = {p.name: p.stat().st_size for p in stack.log_dir.glob("*")}
    stack.talk(sender, "hi")
    replies = stack.talk(sender, "yes")
    replies = answer_until(stack, sender, replies, "lupus_meds")
    assert last_question(replies) == "lupus_meds"
    planted_answer = (f"prednisone and {ANSWER}, I'm {NAME} {SURNAME}, write to {EMAIL} "
                      f"or ring {PHONE}")
    with locked(stack.database_url):  # storing this answer fails
        failed = stack.talk(sender, planted_answer)
        failed += stack.talk(sender, "yes")
    assert failed is not None
    replies = stack.talk(sender, planted_answer)
    replies = answer_until(stack, sender, replies, "")
    assert "may be able to take part" in said(replies)
    for message in ["yes", NAME, SURNAME, EMAIL, PHONE, "no"]:
        replies = stack.talk(sender, message)
    assert "Please check your details" in said(replies)
    with locked(stack.database_url):  # the details are in the tracker; saving the lead fails
        stack.talk(sender, "yes")
        stack.talk(sender, "yes I agree")

    logs = log_text(stack.log_dir)
    new = "\n".join(
        p.read_text(errors="replace")[before.get(p.name, 0):]
        for p in sorted(stack.log_dir.glob("*")) if p.is_file()
    )
    # The faults happened and were logged, with what a developer needs...
    assert re.search(r"OperationalError: \[withheld\]", new), new[-3000:]
    assert "[withheld]" in new
    # ...and nothing the patient typed or gave, in any log the servers wrote.
    for value in PLANTED:
        assert value.lower() not in logs.lower(), value
