"""The store's kept connections and kept plaintexts see other processes' work at once.

The action server keeps its SQLite connections open (bot/db.py) and the decrypted values of the
live answers it has read (bot/screenings.py, ``_Plaintexts``). Another process may answer,
correct or erase meanwhile: a second action server of the cluster, ``bot erase``, ``bot purge``.
Each test reads through a kept connection, lets another process change the store, then reads
again through the same connection, without opening a new one.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import event

from bot import screenings
from bot.db import get_engine
from bot.protocol import get_protocol
from bot.questions import interpret
from bot.settings import PROJECT_ROOT
from tests.test_erasure import data_key, run_cli, tracker_url  # noqa: F401 - fixtures

TRIAL = "NCT06675422"


def answer(conversation: str, question_id: str, text: str) -> screenings.Snapshot:
    understood = interpret(get_protocol(TRIAL).question(question_id), text)
    assert understood is not None
    return screenings.record_answer(conversation, question_id, text, understood)


def in_another_process(code: str) -> None:
    """Run ``code`` (with bot.screenings as ``screenings`` and this module's ``answer``) in a
    fresh interpreter on the same store."""
    script = (
        "from bot import screenings\n"
        "from tests.test_store_pool import answer\n"
        f"{code}\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture()
def connections(database_url):
    """How many connections the store's engine opens from now on (the kept ones are reused)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's kept connections")
    engine = get_engine()
    opened: list[object] = []
    listener = lambda dbapi_connection, _record: opened.append(dbapi_connection)  # noqa: E731
    event.listen(engine, "connect", listener)
    yield opened
    event.remove(engine, "connect", listener)


@pytest.fixture()
def conversation(database_url) -> str:
    """A screening with consent and one answer (age 34), written by this process."""
    conversation = f"pool-{uuid.uuid4().hex[:12]}"
    screenings.start(conversation, TRIAL, "rest")
    screenings.consent(conversation, "consent wording")
    answer(conversation, "age", "34")
    return conversation


def test_a_kept_connection_sees_an_erasure_by_another_process_at_once(
    conversation, connections, tracker_url  # noqa: F811
):
    assert screenings.snapshot(conversation).answers["age"].value == 34
    assert get_engine().pool.checkedin() >= 1  # a connection is kept, with nothing open on it
    done = run_cli("erase", "--conversation", conversation, "--yes")
    assert done.returncode == 0, done.stderr
    assert screenings.snapshot(conversation) is None
    assert screenings.answered_questions(conversation) == {}
    assert connections == []  # the kept connection read it


def test_answers_and_corrections_by_another_process_are_read_at_once(conversation, connections):
    before = screenings.snapshot(conversation)
    assert before.answers["age"].value == 34 and before.answered == 1
    # Another action server takes the next answer, then the patient corrects their age there.
    in_another_process(f"answer({conversation!r}, 'age', '46')")
    assert screenings.snapshot(conversation).answers["age"].value == 46
    question = before.evaluation.next_question
    assert question is not None and question.id != "age"
    reply = "no" if question.type.value == "yes_no" else "not sure"
    in_another_process(f"answer({conversation!r}, {question.id!r}, {reply!r})")
    after = screenings.snapshot(conversation)
    assert after.answered == 2 and question.id in after.answers
    assert after.answers["age"].value == 46
    # And this process's next write builds on what the other wrote.
    assert answer(conversation, "age", "50").answers["age"].value == 50
    assert screenings.snapshot(conversation).answered == 2
    assert connections == []


def test_a_started_over_screening_is_not_read_from_what_was_kept(conversation, connections):
    assert screenings.snapshot(conversation).answered == 1
    in_another_process(f"screenings.restart({conversation!r})\n"
                       f"screenings.start({conversation!r}, {TRIAL!r}, 'rest')")
    fresh = screenings.snapshot(conversation)
    assert fresh is not None and fresh.answered == 0 and not fresh.consented
    assert connections == []
