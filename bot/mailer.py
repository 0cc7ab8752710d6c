"""Delivers the outbox: by SMTP when ``SMTP_HOST`` is set, else into ``var/outbox/`` as .eml files.

The message row is written in the same transaction as the lead it reports; delivery happens after,
and anything not delivered stays in the outbox for ``python -m bot outbox --send`` to retry.
"""

from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from bot.db import session_scope
from bot.models import OutboxMessage, utcnow
from bot.settings import PROJECT_ROOT

log = logging.getLogger(__name__)


def outbox_dir() -> Path:
    return Path(os.environ.get("OUTBOX_DIR") or PROJECT_ROOT / "var" / "outbox")


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
        folder = outbox_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{row_id:08d}.eml"
        path.write_bytes(bytes(message))
        path.chmod(0o600)
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


def send_pending(limit: int = 50) -> tuple[int, int]:
    """Deliver unsent messages; returns (sent, failed). Errors are kept on the row, not logged
    with the message's content."""
    sent = failed = 0
    with session_scope() as session:
        rows = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # two senders never send one message twice
        ).scalars()
        for row in rows:
            row.attempts += 1
            try:
                _deliver(_email(row), row.id)
            except (OSError, smtplib.SMTPException) as exc:
                row.last_error = type(exc).__name__
                failed += 1
                log.warning("outbox message %s not delivered: %s", row.id, type(exc).__name__)
            else:
                row.sent_at = utcnow()
                row.last_error = None
                sent += 1
    return sent, failed
