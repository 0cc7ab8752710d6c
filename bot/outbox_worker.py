"""The outbox worker (``python -m bot outbox-worker``): email out of the patient's turn.

``python -m bot run`` starts one beside Rasa and restarts it if it dies; more than one may run
against the same database (each row is claimed by exactly one, see :mod:`bot.mailer`). Every
round it first stores the leads spooled while the database was unreachable
(:func:`bot.leads.replay_spooled_leads`), then claims and sends the emails that are due.
A round that finds work is followed at once by another; an idle one waits
``OUTBOX_POLL_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy.exc import InterfaceError, OperationalError

from bot import leads, mailer
from bot.settings import load_settings

log = logging.getLogger(__name__)


def poll_seconds() -> float:
    load_settings()
    return float(os.environ.get("OUTBOX_POLL_SECONDS") or 1)


def one_round(worker: str, batch: int = 10) -> tuple[int, int, int]:
    """(leads stored from the spool, emails sent, emails failed) in one pass."""
    stored, _waiting = leads.replay_spooled_leads()
    sent, failed = mailer.send_pending(batch, worker=worker, respect_backoff=True)
    return stored, sent, failed


def run(stop: threading.Event, poll: float | None = None) -> None:
    """Work until ``stop`` is set. A database that is down is waited for, not a crash."""
    worker = mailer.sender_id()
    poll = poll_seconds() if poll is None else poll
    log.info("outbox worker %s started", worker)
    down = False
    while not stop.is_set():
        try:
            stored, sent, failed = one_round(worker)
        except (OperationalError, InterfaceError) as exc:
            if not down:
                log.warning("database unreachable (%s); waiting", type(exc).__name__)
            down = True
            stop.wait(poll)
            continue
        if down:
            log.info("database reachable again")
            down = False
        if stored or sent or failed:
            log.info("stored %s spooled lead(s), sent %s email(s), %s failed",
                     stored, sent, failed)
        if not (stored or sent):
            stop.wait(poll)
    log.info("outbox worker %s stopped", worker)
