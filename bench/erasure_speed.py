"""How long ``python -m bot erase`` and ``python -m bot purge`` take on a store of a given size.

    .venv/bin/python -m bench.erasure_speed [--patients 2000] [--database-url URL]

Fills a temporary SQLite store (or the PostgreSQL at ``--database-url``, emptied first) and a
tracker store beside it with ``--patients`` leads, each with 35 answers, 30 verdicts, a note, an
outbox row and 150 tracker events, plus as many old screenings that never became leads; then
times one erasure by email (finding the patient among every lead, deleting, vacuuming) and one
purge of the old screenings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="erasure-bench-"))
    os.environ["DOTENV_DISABLED"] = "1"
    os.environ.setdefault("DATA_KEYS", "")
    os.environ["DATA_KEY_FILE"] = str(folder / "data-key")
    os.environ["OUTBOX_DIR"] = str(folder / "outbox")
    os.environ["SPOOL_DIR"] = str(folder / "spool")
    url = args.database_url or f"sqlite:///{folder / 'prescreen.db'}"
    tracker_url = args.database_url or f"sqlite:///{folder / 'rasa.db'}"
    os.environ["DATABASE_URL"] = url
    os.environ["TRACKER_STORE_URL"] = tracker_url

    from sqlalchemy import create_engine

    import bot.console.models  # noqa: F401 - the audit table
    from bot import crypto, erasure, transcripts
    from bot.db import get_engine, init_db, session_scope
    from bot.models import (
        AnswerRow,
        Base,
        Lead,
        LeadEvent,
        OutboxMessage,
        Screening,
        VerdictRow,
        utcnow,
    )

    if args.database_url:
        Base.metadata.drop_all(get_engine(url))
        with get_engine(url).begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            connection.exec_driver_sql("DROP TABLE IF EXISTS events")
    init_db(url)
    tracker = create_engine(tracker_url, future=True)
    transcripts.metadata.create_all(tracker)

    started = time.perf_counter()
    old = utcnow() - timedelta(days=200)
    for batch in range(0, args.patients, 200):
        events = []
        with session_scope() as session:
            for i in range(batch, min(batch + 200, args.patients)):
                for kind in ("lead", "old"):
                    conversation = f"{kind}-{i}"
                    screening = Screening(conversation_id=conversation, trial_id="NCT06675422",
                                          status="may_qualify" if kind == "lead" else "stopped",
                                          updated_at=old if kind == "old" else utcnow())
                    session.add(screening)
                    session.flush()
                    for q in range(35):
                        session.add(AnswerRow(screening_id=screening.id, question_id=f"q{q}",
                                              raw_text=f"answer {q} of {i}", value="no",
                                              understood="No"))
                    for c in range(30):
                        session.add(VerdictRow(screening_id=screening.id, criterion_id=f"c{c}",
                                               verdict="met"))
                    if kind == "lead":
                        lead = Lead(screening_id=screening.id, trial_id="NCT06675422",
                                    first_name="Ann", last_name=f"Lee{i}",
                                    email=f"patient{i}@example.org", phone=f"+86139{i:08d}",
                                    consent_text="consent", consented_at=utcnow(),
                                    outcome="may_qualify", to_confirm=[])
                        session.add(lead)
                        session.flush()
                        session.add(LeadEvent(lead_id=lead.id, actor="staff", kind="note",
                                              note=f"called {i}"))
                        session.add(OutboxMessage(to_addr=f"patient{i}@example.org",
                                                  subject="copy", body=f"details of {i}"))
                    sender = transcripts.stored_sender_id(conversation)
                    at = old.timestamp() if kind == "old" else time.time()
                    events.extend(
                        {"sender_id": sender, "type_name": "user", "timestamp": at + e,
                         "data": crypto.encrypt_text(json.dumps(
                             {"event": "user", "text": f"message {e} of {i} " + "x" * 200}))}
                        for e in range(150)
                    )
        with tracker.begin() as connection:
            connection.execute(transcripts.events.insert(), events)
    filled = time.perf_counter() - started
    tracker.dispose()

    def size() -> str:
        if args.database_url:
            return "PostgreSQL"
        mb = sum(p.stat().st_size for p in folder.glob("*.db*")) / 1e6
        return f"{mb:.0f} MB on disk"

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"filled {args.patients} leads + {args.patients} old screenings, "
          f"{args.patients * 2 * 150} tracker events in {filled:.0f} s ({size()})")
    started = time.perf_counter()
    result = erasure.erase(emails=[f"PATIENT{args.patients // 2}@example.org"])
    print(f"erase one patient by email: {time.perf_counter() - started:.2f} s "
          f"({result.counts.describe()})")
    started = time.perf_counter()
    result = erasure.purge(days=90)
    print(f"purge the old screenings: {time.perf_counter() - started:.2f} s "
          f"({result.counts.describe()}) ({size()})")


if __name__ == "__main__":
    main()
