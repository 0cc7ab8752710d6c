"""A durable, encrypted spool for what could not reach the database (a lead, when it is down).

One file per item under ``SPOOL_DIR`` (default ``var/spool/``, 0700), written 0600 and
encrypted with :func:`bot.crypto.encrypt_text`, so a patient's contact details are never on
disk in the clear. A file is written under a temporary name, flushed to disk, then renamed: a
crash leaves either the whole item or nothing.

:func:`replay` hands each item back (the outbox worker does it every round) and deletes the file
once the handler has stored it. Two replayers never hold one file at once (``flock``), and a
file another replayer has already deleted is skipped; handlers are idempotent anyway (a lead is
one per screening).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot import crypto
from bot.files import FILE_MODE, private_dir
from bot.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)


class Retry(Exception):
    """Raised by a handler: the item cannot be stored yet (the database is still down)."""


def spool_dir(kind: str) -> Path:
    load_settings()
    base = Path(os.environ.get("SPOOL_DIR") or PROJECT_ROOT / "var" / "spool")
    return private_dir(base / kind)


def write(kind: str, item: dict[str, Any]) -> Path:
    """Keep ``item`` durably; returns its file."""
    folder = spool_dir(kind)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
    temporary = folder / f".{name}.tmp"
    final = folder / f"{name}.item"
    token = crypto.encrypt_text(json.dumps(item, ensure_ascii=False)).encode("ascii")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.write(fd, token)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, final)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
    return final


def pending(kind: str) -> list[Path]:
    return sorted(spool_dir(kind).glob("*.item"))


def replay(kind: str, handler: Callable[[dict[str, Any]], None]) -> tuple[int, int]:
    """Give every spooled item to ``handler``; returns (stored, still waiting).

    A handler raising :class:`Retry` keeps the item and ends the round (the database is still
    unreachable). Any other error sets the item aside as ``.rejected`` for a person to look at;
    only the error's type is logged.
    """
    stored = waiting = 0
    items = pending(kind)
    for index, path in enumerate(items):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # another replayer stored it
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting += 1
                continue
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue
            with os.fdopen(os.dup(fd), "rb") as handle:
                token = handle.read().decode("ascii")
            try:
                handler(json.loads(crypto.decrypt_text(token)))
            except Retry:
                waiting += len(items) - index
                break
            except Exception as exc:  # noqa: BLE001 - kept for a person, never lost
                os.replace(path, path.with_suffix(".rejected"))
                log.error("spooled %s item set aside as .rejected (%s)", kind, type(exc).__name__)
                continue
            os.unlink(path)
            stored += 1
        finally:
            os.close(fd)
    return stored, waiting
