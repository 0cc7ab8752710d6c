"""Stopping a process with SIGTERM or Ctrl-C while its main thread waits on the stop event."""

from __future__ import annotations

import signal
import threading

from bot.deploy.cli import sets_on_signal


def test_a_stop_signal_that_lands_while_the_event_lock_is_held_still_stops():
    # The handler runs in the main thread, possibly inside Event.wait() with the event's lock
    # held (an outbox worker hung so for good on SIGTERM). Simulated here in a thread of its
    # own: it holds the lock, as wait() does, and the handler runs inside it.
    event = threading.Event()
    handler = sets_on_signal(event)

    def main_thread_inside_wait() -> None:
        with event._cond:  # the lock Event.wait() holds around its checks
            handler(signal.SIGTERM, None)

    inside = threading.Thread(target=main_thread_inside_wait, daemon=True)
    inside.start()
    inside.join(timeout=5)
    assert not inside.is_alive(), "the handler blocked on the event's own lock"
    assert event.wait(timeout=5)
