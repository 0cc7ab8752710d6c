"""Email out of the patient's turn: outbox workers racing for rows, a mail server that is down,
the same lead submitted twice, and leads spooled while the database is unreachable.

Real SMTP server (aiosmtpd), real worker processes (``python -m bot outbox-worker``); on SQLite,
and on PostgreSQL with ``--database-url`` (``make test-postgres``).
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bot import leads, mailer, spool
from bot.db import dispose_all, session_scope
from bot.deploy.services import free_port
from bot.models import Lead, OutboxMessage
from bot.settings import PROJECT_ROOT
from tests.test_actions import SENDER, may_qualify
from tests.test_mail_and_queue import DETAILS, Inbox


def smtp_env(port: int) -> dict[str, str]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
            "MAIL_FROM": "study@site.example"}


@pytest.fixture()
def inbox(monkeypatch) -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in smtp_env(port).items():
        monkeypatch.setenv(key, value)
    yield handler, port
    controller.stop()


def queue_messages(count: int) -> list[int]:
    with session_scope() as session:
        rows = [OutboxMessage(to_addr=f"patient{i}@example.com", subject=f"Copy {i}",
                              body=f"Your details, message {i}.") for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def start_workers(count: int, extra: dict[str, str]) -> list[subprocess.Popen]:
    env = {**os.environ, **extra, "OUTBOX_POLL_SECONDS": "0.2"}
    return [
        subprocess.Popen([sys.executable, "-m", "bot", "outbox-worker"], cwd=PROJECT_ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> str:
    output = ""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        out, _ = worker.communicate(timeout=30)
        output += out
    return output


def wait_until(check, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def unsent() -> int:
    with session_scope() as session:
        return len(session.execute(
            select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None))).all())


def delivered_ids(handler: Inbox) -> Counter:
    return Counter(m["Message-ID"] for m in handler.messages)


def test_three_workers_deliver_each_of_60_messages_exactly_once(database_url, inbox):
    handler, port = inbox
    ids = queue_messages(60)
    workers = start_workers(3, smtp_env(port))
    try:
        wait_until(lambda: unsent() == 0)
    finally:
        output = stop_workers(workers)
    counts = delivered_ids(handler)
    assert len(handler.messages) == 60, output
    assert set(counts) == {f"<outbox-{i}@prescreen.local>" for i in ids}
    assert max(counts.values()) == 1
    with session_scope() as session:
        rows = session.execute(select(OutboxMessage)).scalars().all()
        assert {r.attempts for r in rows} == {1}
        assert all(r.claimed_by is None and r.last_error is None for r in rows)
        claimed = Counter(r.sent_at is not None for r in rows)
    assert claimed[True] == 60
    assert "patient" not in output and "Your details" not in output  # no content in the log


def test_senders_racing_in_threads_claim_each_row_once(database_url, inbox):
    handler, _port = inbox
    queue_messages(40)
    barrier = threading.Barrier(4)
    results: list[tuple[int, int]] = []

    def sender() -> None:
        barrier.wait()
        while (done := mailer.send_pending(limit=5)) != (0, 0):
            results.append(done)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(sent for sent, _ in results) == 40
    assert len(handler.messages) == 40 and max(delivered_ids(handler).values()) == 1


def test_a_mail_server_that_is_down_is_retried_later_and_delivered_once_it_is_up(
    database_url, monkeypatch
):
    port = free_port()  # nothing listens there yet
    (row_id,) = queue_messages(1)
    workers = start_workers(1, {**smtp_env(port), "OUTBOX_RETRY_SECONDS": "0.5",
                                "OUTBOX_RETRY_MAX_SECONDS": "1"})
    try:
        def failed_twice() -> bool:
            with session_scope() as session:
                row = session.get(OutboxMessage, row_id)
                return row.attempts >= 2
        wait_until(failed_twice)
        with session_scope() as session:
            row = session.get(OutboxMessage, row_id)
            assert row.sent_at is None
            assert row.last_error == "ConnectionRefusedError"  # the type only, nothing else
            assert row.next_attempt_at is not None and row.claimed_by is None
        handler = Inbox()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            wait_until(lambda: unsent() == 0)
            time.sleep(1.5)  # more rounds: nothing is sent again
        finally:
            controller.stop()
    finally:
        output = stop_workers(workers)
    assert len(handler.messages) == 1
    assert handler.messages[0]["To"] == "patient0@example.com"
    with session_scope() as session:
        row = session.get(OutboxMessage, row_id)
        assert row.last_error is None and row.attempts >= 3
    assert "ConnectionRefusedError" in output and "patient0" not in output


def test_a_message_is_given_up_after_the_last_try(database_url, monkeypatch):
    monkeypatch.setenv("OUTBOX_MAX_ATTEMPTS", "2")
    for key, value in smtp_env(free_port()).items():
        monkeypatch.setenv(key, value)
    queue_messages(1)
    assert mailer.send_pending() == (0, 1)
    assert mailer.send_pending() == (0, 1)
    assert mailer.send_pending() == (0, 0)  # not claimed again
    assert unsent() == 1


async def test_the_same_lead_submitted_twice_in_a_row_is_stored_and_emailed_once(
    database_url, inbox
):
    handler, _port = inbox
    await may_qualify()
    first = leads.submit_lead(SENDER, DETAILS, "consent wording")
    second = leads.submit_lead(SENDER, DETAILS, "consent wording")
    assert first is second is leads.Stored.QUEUE
    assert mailer.send_pending() == (1, 0)
    with session_scope() as session:
        assert len(session.execute(select(Lead)).all()) == 1
        assert len(session.execute(select(OutboxMessage)).all()) == 1
    assert len(handler.messages) == 1


async def test_the_same_lead_submitted_at_the_same_moment_is_stored_and_emailed_once(
    database_url, inbox
):
    handler, _port = inbox
    await may_qualify()
    barrier = threading.Barrier(4)

    def submit() -> leads.Stored:
        barrier.wait()
        return leads.submit_lead(SENDER, DETAILS, "consent wording")

    results = await asyncio.gather(*(asyncio.to_thread(submit) for _ in range(4)))
    assert set(results) == {leads.Stored.QUEUE}
    assert mailer.send_pending() == (1, 0)
    with session_scope() as session:
        assert len(session.execute(select(Lead)).all()) == 1
        assert len(session.execute(select(OutboxMessage)).all()) == 1
    assert len(handler.messages) == 1


async def test_changed_details_send_a_new_copy_to_the_new_address(database_url):
    await may_qualify()
    leads.submit_lead(SENDER, DETAILS, "consent wording")
    moved = leads.ContactDetails("Maria", "Garcia", "maria.g@example.org", DETAILS.phone, None)
    leads.submit_lead(SENDER, moved, "consent wording")
    with session_scope() as session:
        assert [r.to_addr for r in session.execute(select(OutboxMessage)).scalars()] == [
            "maria@example.com", "maria.g@example.org"]
        assert session.execute(select(Lead)).scalar_one().email == "maria.g@example.org"


async def test_a_lead_is_spooled_encrypted_while_the_database_is_unreachable(
    database_url, monkeypatch, tmp_path
):
    await may_qualify()
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    unreachable = tmp_path / "db-is-a-directory"
    unreachable.mkdir()  # SQLite cannot open it: "unable to open database file"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{unreachable}")
    assert leads.submit_lead(SENDER, DETAILS, "consent wording") is leads.Stored.SPOOL
    (item,) = spool.pending(leads.LEAD_SPOOL)
    assert stat.S_IMODE(item.stat().st_mode) == 0o600
    assert stat.S_IMODE(item.parent.stat().st_mode) == 0o700
    raw = item.read_bytes()
    for secret in (b"maria", b"Maria", b"Garcia", b"8613800138000", b"consent wording"):
        assert secret not in raw
    assert leads.replay_spooled_leads() == (0, 1)  # still down: kept
    assert item.exists()

    monkeypatch.setenv("DATABASE_URL", database_url)  # the database is back
    dispose_all()
    assert leads.replay_spooled_leads() == (1, 0)
    assert leads.replay_spooled_leads() == (0, 0)
    assert not item.exists()
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert (lead.email, lead.consent_text) == ("maria@example.com", "consent wording")
        assert len(session.execute(select(OutboxMessage)).all()) == 1


def test_two_replayers_store_a_spooled_item_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    for i in range(20):
        spool.write("things", {"n": i})
    seen: list[int] = []
    lock = threading.Lock()

    def handler(item: dict) -> None:
        time.sleep(0.005)
        with lock:
            seen.append(item["n"])

    threads = [threading.Thread(target=spool.replay, args=("things", handler)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    while spool.pending("things"):  # one skipped a file another held: the next round takes it
        spool.replay("things", handler)
    assert sorted(seen) == list(range(20))


def test_the_worker_stores_a_spooled_lead_and_sends_its_copy(database_url, inbox, tmp_path,
                                                              monkeypatch):
    handler, port = inbox
    asyncio.run(may_qualify())
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    spool.write(leads.LEAD_SPOOL, {
        "conversation_id": SENDER, "details": {
            "first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
            "phone": "+8613800138000", "other_language": None},
        "consent_text": "consent wording", "language": "en", "consent_version": None,
        "consented_at": "2026-12-01T10:00:00+00:00"})
    workers = start_workers(2, {**smtp_env(port), "SPOOL_DIR": str(tmp_path / "spool")})
    try:
        wait_until(lambda: len(handler.messages) >= 1)
        time.sleep(1)
    finally:
        stop_workers(workers)
    assert len(handler.messages) == 1
    assert not spool.pending(leads.LEAD_SPOOL)
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert lead.consented_at.isoformat().startswith("2026-12-01T10:00:00")


async def test_the_submit_action_run_twice_at_the_same_moment_queues_one_lead_and_one_email(
    database_url, inbox
):
    """Rasa calling the submit action twice for one patient (a retry after a timeout while the
    first call was still running): both calls confirm, one lead, one email."""
    from actions.contact import ActionSubmitLead
    from tests.test_actions import run
    from tests.trackers import tracker_dict

    handler, _port = inbox
    await may_qualify()
    slots = {"first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
             "phone": "+8613800138000", "other_language": "", "details_confirmed": "yes",
             "contact_consent": "yes"}
    results = await asyncio.gather(
        *(run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=slots)) for _ in range(3))
    )
    for _events, messages in results:
        assert "We have submitted the contact information" in messages[0]["text"]
    with session_scope() as session:
        assert len(session.execute(select(Lead)).all()) == 1
        assert len(session.execute(select(OutboxMessage)).all()) == 1
    assert mailer.send_pending() == (1, 0)
    assert len(handler.messages) == 1


async def test_a_patient_whose_lead_is_spooled_is_told_the_truth(database_url, monkeypatch,
                                                                 tmp_path):
    from actions.contact import ActionSubmitLead
    from tests.test_actions import run, texts
    from tests.trackers import tracker_dict

    await may_qualify()
    monkeypatch.setenv("SPOOL_DIR", str(tmp_path / "spool"))
    unreachable = tmp_path / "db-is-a-directory"
    unreachable.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{unreachable}")
    slots = {"first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
             "phone": "+8613800138000", "other_language": "", "details_confirmed": "yes",
             "contact_consent": "yes"}
    events, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=slots))
    said = texts(messages)
    assert "Your details are saved safely" in said and "may take a little longer" in said
    assert "We have submitted" not in said and "sent to your email" not in said
    assert not any(e.get("name") == "lead_submitted" for e in events)  # no opt-in offered now
    assert len(spool.pending(leads.LEAD_SPOOL)) == 1
