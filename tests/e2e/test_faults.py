"""Faults survived, nothing lost: real processes killed and stopped mid-screening.

One real ``python -m bot run`` (action server, Rasa, study page, console, outbox worker, under
its supervisor), on PostgreSQL (a database of its own) with a real SMTP server in this process.
Patients talk to it through the REST channel; the tests kill (SIGKILL) or stop (SIGSTOP) its
children and block the database, and check what the patients are told, that ``bot run``
restarts what died, and that every answer and lead is kept. Each test prints its figures
(``pytest -s``), which docs/reliability.md quotes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bot.db import dispose_all, session_scope
from bot.deploy.services import free_port
from bot.models import Lead
from bot.settings import PROJECT_ROOT
from tests.e2e.test_rest_screenings import (
    FREE_TEXT,
    answers_of,
    is_read_back,
    last_question,
    said,
)
from tests.test_mail_and_queue import Inbox

pytestmark = pytest.mark.e2e

POSTGRES = os.environ.get(
    "FAULTS_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "prescreen_faults"
SORRY = "something went wrong on our side"
SPOOLED = "Your details are saved safely"
ACTION_CALL_TIMEOUT = 6.0  # the default in .env.example


def admin(sql: str) -> None:
    """Run one statement on the server's maintenance database (outside any transaction)."""
    engine = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", future=True)
    try:
        with engine.connect() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def block_database() -> None:
    """The database unreachable, as when its server refuses connections: every session is cut
    and no new one is allowed, for the superuser too."""
    admin(f'ALTER DATABASE "{DATABASE}" ALLOW_CONNECTIONS false')
    admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DATABASE}'")


def unblock_database() -> None:
    admin(f'ALTER DATABASE "{DATABASE}" ALLOW_CONNECTIONS true')


def children(parent: int) -> dict[int, str]:
    """The child processes of ``parent``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found


@dataclass
class Run:
    """``python -m bot run`` and what the tests need to reach it."""

    process: subprocess.Popen
    output: Path
    rasa_port: int
    action_port: int
    database_url: str
    spool: Path
    inbox: Inbox
    token: str
    faults: list[str] = field(default_factory=list)

    def talk(self, sender: str, message: str, timeout: float = 60) -> list[dict]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook",
            data=json.dumps({"sender": sender, "message": message}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def child(self, marker: str) -> int:
        (pid,) = [p for p, cmd in children(self.process.pid).items() if marker in cmd]
        return pid

    def wait_restarted(self, marker: str, old_pid: int, health: str, timeout: float) -> float:
        """Seconds until a new ``marker`` process answers ``health``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert self.process.poll() is None, "bot run itself stopped"
            pids = [p for p, cmd in children(self.process.pid).items() if marker in cmd]
            if pids and pids != [old_pid]:
                try:
                    with urllib.request.urlopen(health, timeout=2):
                        return time.monotonic() - start
                except (OSError, urllib.error.URLError):
                    pass
            time.sleep(0.5)
        raise AssertionError(f"{marker} was not restarted within {timeout:.0f} s")

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("faults")
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    database_url = str(make_url(POSTGRES).set(database=DATABASE))
    inbox, smtp_port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    rasa_port, action_port = free_port(), free_port()
    token = secrets.token_hex(32)
    env = {
        **os.environ,
        "DOTENV_DISABLED": "1",
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": f"sqlite:///{base / 'rasa.db'}",
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "SITE_PORT": str(free_port()),
        "CONSOLE_PORT": str(free_port()),
        "CONSOLE_SECRET_KEY": secrets.token_hex(32),
        "REST_CHANNEL": "token",
        "REST_CHANNEL_TOKEN": token,
        "LOG_DIR": str(base / "log"),
        "OUTBOX_DIR": str(base / "outbox"),
        "SPOOL_DIR": str(base / "spool"),
        "OUTBOX_POLL_SECONDS": "0.5",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
    }
    output = base / "bot-run.out"
    with open(output, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    result = Run(process, output, rasa_port, action_port, database_url, base / "spool",
                 inbox, token)
    try:
        deadline = time.monotonic() + 400
        while "Press Ctrl-C" not in result.log():
            assert process.poll() is None, result.log()[-3000:]
            assert time.monotonic() < deadline, "bot run did not start"
            time.sleep(1)
        os.environ["DATABASE_URL"] = database_url  # for session_scope() in the checks
        yield result
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        smtp.stop()
        os.environ.pop("DATABASE_URL", None)
        dispose_all()
        unblock_database()
        print("\nFAULTS INJECTED:", "; ".join(result.faults))
        print("SUPERVISOR:", [line for line in result.log().splitlines()
                              if "restart" in line or "exited" in line or "answer" in line])


@dataclass
class Patient:
    """One screening over REST, answering from ``FREE_TEXT``."""

    run: Run
    sender: str
    replies: list[dict] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def start(self) -> Patient:
        assert "not a diagnosis" in said(self.run.talk(self.sender, "hi"))
        self.replies = self.run.talk(self.sender, "yes")
        return self

    def question(self) -> str | None:
        while is_read_back(self.replies):
            self.replies = self.run.talk(self.sender, "yes")
        return last_question(self.replies)

    def send(self, message: str) -> list[dict]:
        self.replies = self.run.talk(self.sender, message)
        return self.replies

    def answer(self) -> str:
        qid = self.question()
        assert qid is not None, said(self.replies)
        self.asked.append(qid)
        self.send(FREE_TEXT[qid])
        return qid

    def finish(self) -> None:
        while self.question() is not None:
            self.answer()

    def kept(self) -> set[str]:
        return set(answers_of(self.run, self.sender))


def test_the_action_server_killed_mid_screening(run: Run):
    patients = [Patient(run, f"kill-actions-{i}").start() for i in range(3)]
    for p in patients:
        for _ in range(3):
            p.answer()
    first = patients[0]
    qid = first.question()  # before the fault: a read-back is confirmed while all is well
    old = run.child("actions.server")
    os.kill(old, signal.SIGKILL)
    run.faults.append(f"action server SIGKILL with {len(patients)} screenings in flight")
    started = time.monotonic()
    replies = first.send(FREE_TEXT[qid])
    told_after = time.monotonic() - started
    assert SORRY in said(replies)
    assert told_after < 3, f"told after {told_after:.1f} s"

    restart = run.wait_restarted(
        "actions.server", old, f"http://127.0.0.1:{run.action_port}/health", timeout=120
    )
    first.send(FREE_TEXT[qid])  # sent again, as the patient was asked
    assert first.question() != qid, said(first.replies)
    first.asked.append(qid)
    for p in patients:
        p.finish()
        assert "may be able to take part" in said(p.replies)
        assert set(p.asked) <= p.kept(), "an answer was lost"
    print(f"\naction server SIGKILL: told in {told_after:.2f} s, restarted and answering in "
          f"{restart:.1f} s, {len(patients)} screenings finished, "
          f"{sum(len(p.asked) for p in patients)} answers kept, 0 lost")


def test_a_hung_action_server(run: Run):
    patient = Patient(run, "hung-actions").start()
    for _ in range(2):
        patient.answer()
    qid = patient.question()
    hung = run.child("actions.server")
    os.kill(hung, signal.SIGSTOP)
    run.faults.append("action server SIGSTOP with 1 screening in flight")
    started = time.monotonic()
    replies = patient.send(FREE_TEXT[qid])
    told_after = time.monotonic() - started
    assert SORRY in said(replies)
    assert told_after < ACTION_CALL_TIMEOUT + 3, f"told after {told_after:.1f} s"
    # The supervisor sees the hung server miss its health checks, kills it and starts another.
    restart = run.wait_restarted("actions.server", hung,
                                 f"http://127.0.0.1:{run.action_port}/health", timeout=180)
    patient.send(FREE_TEXT[qid])
    assert patient.question() != qid, said(patient.replies)
    patient.asked.append(qid)
    patient.finish()
    assert set(patient.asked) <= patient.kept()
    print(f"\naction server SIGSTOP: told in {told_after:.2f} s (timeout "
          f"{ACTION_CALL_TIMEOUT:.0f} s), killed and restarted by bot run in {restart:.1f} s, "
          f"screening finished, {len(patient.asked)} answers kept")


def test_rasa_killed_and_restarted_resumes_from_the_tracker_store(run: Run):
    patients = [Patient(run, f"kill-rasa-{i}").start() for i in range(2)]
    for p in patients:
        for _ in range(4):
            p.answer()
    waiting = [p.question() for p in patients]
    old = run.child("channels.action_calls")
    os.kill(old, signal.SIGKILL)
    run.faults.append(f"Rasa SIGKILL with {len(patients)} screenings in flight")
    restart = run.wait_restarted("channels.action_calls", old,
                                 f"http://127.0.0.1:{run.rasa_port}/", timeout=400)
    for p, qid in zip(patients, waiting, strict=True):
        p.asked.append(qid)
        p.send(FREE_TEXT[qid])  # the answer to the question asked before Rasa died
        assert last_question(p.replies) != qid, said(p.replies)
        p.finish()
        assert "may be able to take part" in said(p.replies)
        assert set(p.asked) <= p.kept()
    print(f"\nRasa SIGKILL: restarted and answering in {restart:.1f} s, {len(patients)} "
          f"screenings resumed at the same question and finished, 0 answers lost")


def test_a_lead_submitted_while_the_database_is_unreachable_is_kept_and_stored_later(run: Run):
    patient = Patient(run, "db-down").start()
    patient.finish()
    assert "may be able to take part" in said(patient.replies)
    for message in ["yes", "Ana", "Lopez", "ana.lopez@example.org", "+86 139 0013 9000", "no",
                    "yes"]:
        patient.send(message)
    assert "Do you agree" in said(patient.replies) or "agree" in said(patient.replies).lower()
    before = len(run.inbox.messages)
    block_database()
    run.faults.append("database connections refused at the lead's submission")
    try:
        started = time.monotonic()
        replies = patient.send("yes I agree")
        told_after = time.monotonic() - started
        assert SPOOLED in said(replies), said(replies)
        assert "submitted the contact information" not in said(replies)
        items = list((run.spool / "leads").glob("*.item"))
        assert len(items) == 1
        assert stat.S_IMODE(items[0].stat().st_mode) == 0o600
        raw = items[0].read_bytes()
        assert b"ana.lopez" not in raw and b"Lopez" not in raw and b"9000" not in raw
        time.sleep(3)  # the worker tries, and keeps it
        assert list((run.spool / "leads").glob("*.item")) == items
    finally:
        unblock_database()
    dispose_all()
    deadline = time.monotonic() + 60
    while list((run.spool / "leads").glob("*.item")) or len(run.inbox.messages) == before:
        assert time.monotonic() < deadline, "the spooled lead was not stored"
        time.sleep(0.5)
    stored_after = time.monotonic() - started
    with session_scope(run.database_url) as session:
        emails = [lead.email for lead in session.execute(select(Lead)).scalars()]
    assert emails.count("ana.lopez@example.org") == 1
    copies = [m for m in run.inbox.messages if m["To"] == "ana.lopez@example.org"]
    time.sleep(2)
    assert len(copies) == 1
    print(f"\ndatabase down at submission: patient told in {told_after:.2f} s that the details "
          f"are saved; lead stored and its copy emailed {stored_after:.1f} s after submitting "
          f"(once the database was back); 1 lead, 1 email, 0 lost")
