"""What one answer costs the screening store, counted (issue 10: the action server's share of a
turn small and constant): the form's validation reads the screening, writes the answer and asks
the next question from what it wrote, in the same few statements at the 30th answer as at the
2nd, on connections kept open."""

from __future__ import annotations

from sqlalchemy import event

from bot import screenings
from bot.db import get_engine
from tests.test_actions import reply, start
from tests.test_engine import ELIGIBLE

SENDER = "cost-patient"
TYPED = {"lupus_meds": "prednisone and cellcept", "steroid_dose": "10 mg a day",
         "treatment_duration": "4 months", "age": "34"}


async def test_an_answer_costs_the_same_statements_early_and_late(database_url):
    await start(SENDER)
    engine = get_engine()
    counted = {"statements": 0, "connections": 0}

    def statement(*_args: object) -> None:
        counted["statements"] += 1

    def connection(*_args: object) -> None:
        counted["connections"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "connect", connection)
    plain: list[int] = []  # statements of each answer neither read back nor a "yes"
    try:
        while (snap := screenings.snapshot(SENDER)).asking is not None:
            question, pending = snap.asking, snap.pending is not None
            before = counted["statements"]  # after the loop's own reads
            if pending:
                _, messages = await reply('/inform{"answer": "yes"}', SENDER)
            else:
                value = ELIGIBLE[question.id]
                _, messages = await reply(TYPED.get(question.id, value), SENDER)
            spent = counted["statements"] - before
            if not pending and question.id not in TYPED:
                plain.append(spent)
            if screenings.snapshot(SENDER).asking is not None:
                assert messages, question.id  # the next question or the read-back, asked
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "connect", connection)
    assert len(plain) >= 25
    # Read the screening (2), then one write: the screening again (1), its live answers (1), the
    # earlier answer set aside if any (0 or 1), the new row (1), the live answers after it (1),
    # the verdicts (1 read, 0 or 1 change), the screening's row (1); nothing to ask afresh.
    assert max(plain) <= 10 and max(plain[-5:]) <= max(plain[:5]), plain
    assert counted["connections"] <= 1  # the kept connection (one more while the pool fills)
