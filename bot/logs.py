"""Logs that hold no patient text and no contact detail, for the Rasa server and the action server.

Our own code never logs what a patient wrote or who they are. Rasa, rasa_sdk and their libraries
do on their error paths: an exception's message carries a failing SQL statement's parameters, an
action server's error body (the whole tracker), a channel's error text (a phone number); Rasa's
structlog events carry the message text, and its JSON tracebacks carry every frame's local
variables. One rule set, applied to every log record either process makes, removes them:

- an exception keeps its type and its stack (file, line, function), never its message;
- a structlog event (Rasa renders them as JSON) keeps its name, level and description only;
- a few known third-party messages that paste an exception's text are cut before that text;
- anything shaped like an email address is withheld.

Both processes read ``logging.yml`` (the Rasa server through ``--logging-config-file``, the
action server through ``actions.server``); building its filter installs the rules as the log
record factory, so they apply to every logger and every handler, including the handlers Rasa
installs after reading the file. Python warnings (a deprecation keeps its words, any other warning
only where it was raised) and uncaught exceptions go through logging too.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any

import yaml

from bot.settings import PROJECT_ROOT

LOGGING_CONFIG = PROJECT_ROOT / "logging.yml"
WITHHELD = "[withheld]"

# Keys of a structlog event that describe what happened, not whose conversation it was.
_EVENT_KEYS = frozenset({"event", "event_key", "event_info", "level", "log_level", "timestamp",
                         "logger", "logger_name", "action_name", "policy_name"})
# Third-party messages that paste an exception's (or a provider's) text after a fixed phrase.
_CUT_AFTER = (
    "Please investigate the following error:",  # rasa.core.tracker_store (SQL parameters)
    "Exception when trying to handle message.",  # rasa.core.channels.*
    "Could not create tables:",
    "Could not create database",
    "Parameters:",  # rasa.shared.core.events
    "Twilio did not take the message:",  # channels.twilio (the provider's text names the number)
)
_EMAIL = re.compile(r"[^\s@<>()\[\]'\",;:]+@[^\s@<>()\[\]'\",;:]+\.[A-Za-z]{2,}")


def private_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` and its causes with every exception's message withheld."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for item in reversed(chain):
        kind = type(item)
        name = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}"
        )
        frames = "".join(traceback.format_tb(item.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{name}: {WITHHELD}")
    return "\n\nwhich caused:\n\n".join(parts)


def _private_exception_dicts(value: Any) -> Any:
    """structlog's ``dict_tracebacks`` output without messages or local variables."""
    if not isinstance(value, list):
        return WITHHELD
    kept = []
    for item in value:
        if not isinstance(item, dict):
            continue
        frames = [
            {k: f.get(k) for k in ("filename", "lineno", "name") if k in f}
            for f in item.get("frames", []) if isinstance(f, dict)
        ]
        kept.append({"exc_type": item.get("exc_type"), "exc_value": WITHHELD,
                     "is_cause": item.get("is_cause"), "frames": frames})
    return kept


def private_structlog_event(message: str) -> str | None:
    """A structlog JSON line with only its descriptive keys; None if ``message`` is not one."""
    if not (message.startswith("{") and message.endswith("}")):
        return None
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if not isinstance(event, dict) or "event" not in event:
        return None
    kept: dict[str, Any] = {}
    for key, value in event.items():
        if key == "exception":
            kept[key] = _private_exception_dicts(value)
        elif key in _EVENT_KEYS and isinstance(value, (str, int, float, bool, type(None))):
            kept[key] = value
        else:
            kept[key] = WITHHELD
    return json.dumps(kept, ensure_ascii=False)


def private_message(message: str) -> str:
    structured = private_structlog_event(message)
    if structured is not None:
        return structured
    for phrase in _CUT_AFTER:
        at = message.find(phrase)
        if at >= 0:
            message = f"{message[:at + len(phrase)]} {WITHHELD}"
            break
    return _EMAIL.sub(WITHHELD, message)


def make_private(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite ``record`` in place (idempotent) so that it holds no patient text."""
    if getattr(record, "_private", False):
        return record
    record._private = True  # type: ignore[attr-defined]
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = private_traceback(record.exc_info[1])
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = WITHHELD
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a record whose arguments do not fit its format
        message = str(record.msg)
    private = private_message(message)
    if private != message or record.args:
        record.msg, record.args = private, ()
    return record


class PrivateRecords(logging.Filter):
    """A logging filter applying :func:`make_private`; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        make_private(record)
        return True


_installed = threading.Lock()
_factory_installed = False


def install_private_records() -> None:
    """Make every log record of this process private from its creation, whatever handles it."""
    global _factory_installed
    with _installed:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return make_private(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        warnings.showwarning = _show_warning

        uncaught = logging.getLogger("uncaught")

        def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
            if issubclass(kind, KeyboardInterrupt):
                sys.__excepthook__(kind, value, tb)
                return
            uncaught.critical("uncaught exception", exc_info=(kind, value, tb))

        def thread_excepthook(args: threading.ExceptHookArgs) -> None:
            if args.exc_value is not None:
                uncaught.critical("uncaught exception in a thread",
                                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

        sys.excepthook = excepthook
        threading.excepthook = thread_excepthook
        _factory_installed = True


_CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    file: Any = None, line: str | None = None,
) -> None:
    """Python warnings through logging. Deprecations are about code and keep their words; any
    other warning (a library's UserWarning may quote a slot's value) keeps only where it was."""
    words = str(message) if issubclass(category, _CODE_WARNINGS) else WITHHELD
    logging.getLogger("py.warnings").warning(
        "%s:%d: %s: %s", filename, lineno, category.__name__, words
    )


def private_filter() -> PrivateRecords:
    """The filter ``logging.yml`` names; building it installs the record factory as well."""
    install_private_records()
    return PrivateRecords()


def configure_private_logging(config_file: str | Path = LOGGING_CONFIG) -> None:
    """Apply ``config_file`` the way Rasa's ``--logging-config-file`` does."""
    with open(config_file, encoding="utf-8") as handle:
        logging.config.dictConfig(yaml.safe_load(handle))
    install_private_records()
