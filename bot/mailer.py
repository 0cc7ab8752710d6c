"""Delivers the outbox: by SMTP when ``SMTP_HOST`` is set, else into ``var/outbox/`` as .eml files.

The message row is written in the same transaction as the lead it reports; the patient's turn
ends there. Delivery happens later, in the outbox worker (``python -m bot outbox-worker``,
started by ``python -m bot run``), or by hand with ``python -m bot outbox --send``.

Each row is *claimed* before it is sent: one ``UPDATE ... WHERE id = :id AND (claimed_until IS
NULL OR claimed_until < :now)`` whose row count says whether this sender won it. That works the
same on SQLite (writers are serialised) and PostgreSQL (the second UPDATE waits for the first
and re-reads the row), so two workers never send one message twice. A claim is a lease: a worker
that dies holding one leaves the row to be claimed again once ``OUTBOX_LEASE_SECONDS`` have
passed (so a crash between the SMTP server's "250 OK" and the row being marked sent can repeat
one email; the Message-ID stays the same, so a mail client can tell).

A failed delivery keeps only the error's type on the row and in the log, never the address or
the content, and is retried with a doubling delay up to ``OUTBOX_MAX_ATTEMPTS`` tries.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import and_, or_, select, update

from bot.db import session_scope
from bot.files import open_private, private_dir
from bot.models import OutboxMessage, utcnow
from bot.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a message is tried (from ``.env``: ``OUTBOX_*``)."""

    max_attempts: int = 8
    base_delay: float = 30.0  # seconds before the second try; doubles after each failure
    max_delay: float = 3600.0
    lease: float = 120.0  # how long a claim holds; longer than an SMTP exchange can take

    @classmethod
    def from_env(cls) -> RetryPolicy:
        load_settings()
        env = os.environ
        return cls(
            max_attempts=int(env.get("OUTBOX_MAX_ATTEMPTS") or cls.max_attempts),
            base_delay=float(env.get("OUTBOX_RETRY_SECONDS") or cls.base_delay),
            max_delay=float(env.get("OUTBOX_RETRY_MAX_SECONDS") or cls.max_delay),
            lease=float(env.get("OUTBOX_LEASE_SECONDS") or cls.lease),
        )

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try."""
        return min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))


def outbox_dir() -> Path:
    return Path(os.environ.get("OUTBOX_DIR") or PROJECT_ROOT / "var" / "outbox")


def sender_id() -> str:
    """Who holds a claim: host, process and a random part (a restarted worker is a new one)."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _email(row: OutboxMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = os.environ.get("MAIL_FROM", "prescreen@localhost")
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Message-ID"] = f"<outbox-{row.id}@prescreen.local>"
    message.set_content(row.body)
    return message


def _deliver(message: EmailMessage, row_id: int) -> None:
    host = os.environ.get("SMTP_HOST")
    if not host:
        folder = private_dir(outbox_dir())
        with open_private(folder / f"{row_id:08d}.eml", "wb") as handle:
            handle.write(bytes(message))
        return
    port = int(os.environ.get("SMTP_PORT", "587"))
    security = os.environ.get("SMTP_SECURITY", "starttls").lower()  # starttls | ssl | none
    timeout = float(os.environ.get("SMTP_TIMEOUT", "10"))
    smtp_class = smtplib.SMTP_SSL if security == "ssl" else smtplib.SMTP
    with smtp_class(host, port, timeout=timeout) as smtp:
        if security == "starttls":
            smtp.starttls()
        user = os.environ.get("SMTP_USER")
        if user:
            smtp.login(user, os.environ.get("SMTP_PASSWORD", ""))
        smtp.send_message(message)


def _claimable(now: datetime, policy: RetryPolicy, respect_backoff: bool):  # noqa: ANN202
    conditions = [
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.attempts < policy.max_attempts,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    ]
    if respect_backoff:
        conditions.append(
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now)
        )
    return and_(*conditions)


def claim(
    worker: str, limit: int = 10, policy: RetryPolicy | None = None, respect_backoff: bool = True
) -> list[int]:
    """Claim up to ``limit`` messages due for delivery; the ids this worker now holds.

    Each claim is its own short transaction: an UPDATE guarded by the same conditions as the
    SELECT that found the row, so of two workers racing for a row exactly one sees rowcount 1.
    """
    policy = policy or RetryPolicy.from_env()
    now = utcnow()
    with session_scope() as session:
        candidates = list(
            session.execute(
                select(OutboxMessage.id)
                .where(_claimable(now, policy, respect_backoff))
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).scalars()
        )
    won: list[int] = []
    for row_id in candidates:
        now = utcnow()
        with session_scope() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, _claimable(now, policy, respect_backoff))
                .values(
                    claimed_by=worker,
                    claimed_until=now + timedelta(seconds=policy.lease),
                    attempts=OutboxMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                won.append(row_id)
    return won


def deliver_claimed(row_id: int, worker: str, policy: RetryPolicy | None = None) -> bool:
    """Send one message this worker holds, then mark it sent or due again later.

    No transaction is open while the SMTP server is talked to.
    """
    policy = policy or RetryPolicy.from_env()
    with session_scope() as session:
        row = session.get(OutboxMessage, row_id)
        if row is None or row.claimed_by != worker or row.sent_at is not None:
            return False
        message, attempts = _email(row), row.attempts
    try:
        _deliver(message, row_id)
    except (OSError, smtplib.SMTPException) as exc:
        error = type(exc).__name__
        delay = policy.delay(attempts)
        with session_scope() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == worker)
                .values(
                    last_error=error,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    claimed_by=None,
                    claimed_until=None,
                )
                .execution_options(synchronize_session=False)
            )
        if attempts >= policy.max_attempts:
            log.error("outbox message %s not delivered after %s tries (%s); giving up",
                      row_id, attempts, error)
        else:
            log.warning("outbox message %s not delivered (%s, try %s); next try in %.0f s",
                        row_id, error, attempts, delay)
        return False
    with session_scope() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == worker)
            .values(sent_at=utcnow(), last_error=None, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
    if result.rowcount != 1:  # the lease ran out mid-send and another worker took the row
        log.warning("outbox message %s: claim lost while sending", row_id)
    return True


def send_pending(
    limit: int = 50, worker: str | None = None, respect_backoff: bool = False
) -> tuple[int, int]:
    """Claim and deliver what is due; returns (sent, failed).

    By hand (``python -m bot outbox --send``) the retry delay is not waited for; the worker
    passes ``respect_backoff=True``.
    """
    worker = worker or sender_id()
    policy = RetryPolicy.from_env()
    sent = failed = 0
    for row_id in claim(worker, limit, policy, respect_backoff):
        if deliver_claimed(row_id, worker, policy):
            sent += 1
        else:
            failed += 1
    return sent, failed
