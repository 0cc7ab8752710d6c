"""What either server logs holds no patient text and no contact detail (bot/logs.py), whatever
Rasa, rasa_sdk, SQLAlchemy or a channel puts into a log record or an exception."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import subprocess
import sys
import warnings

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.logs import LOGGING_CONFIG, WITHHELD, PrivateRecords, make_private, private_message

NAME, EMAIL, PHONE, ANSWER = "Zebediah", "zebediah.quux@example.net", "+447700900123", "Xylophonium"


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PrivateRecords())
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("tests.private_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def assert_private(output: str) -> None:
    for value in (NAME, EMAIL, PHONE, ANSWER):
        assert value not in output


def failing_insert() -> OperationalError:
    """A real SQLAlchemy error, whose message holds the statement's parameters."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO leads (first_name, email) VALUES (:n, :e)"),
                               {"n": NAME, "e": EMAIL})
    except OperationalError as error:
        assert NAME in str(error)  # what would have been logged
        return error
    raise AssertionError("the insert should fail")


def test_an_exception_keeps_its_type_and_stack_but_not_its_message(captured):
    logger, stream = captured
    try:
        try:
            raise failing_insert()
        except OperationalError as error:
            raise RuntimeError(f"could not store the answer {ANSWER!r} of {PHONE}") from error
    except RuntimeError:
        logger.exception("storing an answer failed")
    out = stream.getvalue()
    assert_private(out)
    assert "storing an answer failed" in out
    assert "sqlalchemy.exc.OperationalError: [withheld]" in out
    assert "RuntimeError: [withheld]" in out
    assert "test_log_filters.py" in out  # the stack is kept for whoever debugs it


def test_rasas_action_error_with_the_trackers_body_is_withheld(captured):
    """Rasa wraps the action server's error body (the whole tracker) in its exception."""
    logger, stream = captured
    body = json.dumps({"tracker": {"slots": {"first_name": NAME, "email": EMAIL}}})
    try:
        try:
            raise ValueError(f"500, Internal Server Error, body='{body}'")
        except ValueError as error:
            raise RuntimeError("Failed to execute custom action 'validate_contact_form'") from error
    except RuntimeError:
        logger.error("Encountered an exception while running action", exc_info=True)
    assert_private(stream.getvalue())


def test_a_structlog_event_keeps_its_name_and_not_the_patients_words(captured):
    logger, stream = captured
    event = {
        "event": "rest.message.received.failure",
        "level": "error",
        "text": f"I'm {NAME}, {EMAIL}",
        "exception": [{"exc_type": "OperationalError", "exc_value": f"[parameters: ('{NAME}',)]",
                       "frames": [{"filename": "x.py", "lineno": 3, "name": "run",
                                   "locals": {"text": ANSWER, "phone": PHONE}}]}],
    }
    logger.error(json.dumps(event))
    out = stream.getvalue()
    assert_private(out)
    logged = json.loads(out.split(" ", 2)[2])
    assert logged["event"] == "rest.message.received.failure"
    assert logged["text"] == WITHHELD
    assert logged["exception"][0]["exc_type"] == "OperationalError"
    assert logged["exception"][0]["frames"] == [{"filename": "x.py", "lineno": 3, "name": "run"}]


@pytest.mark.parametrize("message", [
    "Error happened when trying to save conversation tracker to 'SQLTrackerStore'. Falling back "
    f"to use the 'InMemoryTrackerStore'. Please investigate the following error: ('{NAME}', "
    f"'{EMAIL}').",
    f"Exception when trying to handle message.{ANSWER} from {PHONE}",
    f"Twilio did not take the message: The 'To' number {PHONE} is not a valid phone number.",
    f"sending the copy to {EMAIL} failed",
])
def test_messages_that_paste_a_patients_details_are_cut(captured, message):
    logger, stream = captured
    logger.error("%s", message)
    assert_private(stream.getvalue())
    assert WITHHELD in stream.getvalue()


def test_our_own_ordinary_messages_are_kept_as_they_are():
    assert private_message("action server on http://127.0.0.1:5055") == (
        "action server on http://127.0.0.1:5055"
    )
    record = logging.LogRecord("bot", logging.INFO, "x", 1, "%d leads sent", (3,), None)
    assert make_private(record).getMessage() == "3 leads sent"


def test_both_servers_config_file_makes_every_logger_private():
    """logging.yml, as Rasa and the action server apply it, covers every logger and handler,
    Python warnings and uncaught exceptions included, in a fresh process."""
    script = f"""
import logging, sys, warnings, io
from bot.logs import configure_private_logging
configure_private_logging({str(LOGGING_CONFIG)!r})
# A handler added after the file is read (Rasa and rasa_sdk install coloredlogs' own).
extra = logging.StreamHandler(sys.stdout)
logging.getLogger("sanic.error").addHandler(extra)
try:
    raise ValueError({EMAIL!r})
except ValueError:
    logging.getLogger("sanic.error").exception("Exception occurred while handling uri")
warnings.warn("slot first_name set to " + {NAME!r})
raise KeyError({PHONE!r})
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    out = done.stdout + done.stderr
    assert "Exception occurred while handling uri" in out
    assert "KeyError: [withheld]" in out
    assert "UserWarning: [withheld]" in out  # where a warning was raised, not its words
    assert_private(out)


def test_sqlite_error_parameters_never_reach_a_log(tmp_path, captured):
    """The fault the e2e test injects, here in miniature: a locked database."""
    logger, stream = captured
    path = tmp_path / "locked.db"
    sqlite3.connect(path).execute("CREATE TABLE answers (raw_text TEXT)").connection.commit()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    try:
        with warnings.catch_warnings(), engine.begin() as connection:
            connection.execute(text("INSERT INTO answers VALUES (:t)"), {"t": ANSWER})
    except OperationalError:
        logger.exception("could not store an answer")
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    assert "could not store an answer" in stream.getvalue()
    assert_private(stream.getvalue())
