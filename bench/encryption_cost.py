"""What encryption at rest costs: per value, on the console's queue search, and for rotate-keys.

    .venv/bin/python -m bench.encryption_cost [--leads 2000] [--events 20000]

Times, on this machine, one encrypt and one decrypt (Fernet and AES-SIV) of a 40-character
value; the console's search over ``--leads`` leads in a temporary SQLite store (each decrypted
in Python, as the names are sealed); and ``rotate-keys`` over that store and a tracker store of
``--events`` events.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def per_call(fn, *args, n: int = 5000) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="encryption-bench-"))
    os.environ.update({
        "DOTENV_DISABLED": "1",
        "DATABASE_URL": f"sqlite:///{folder / 'prescreen.db'}",
        "TRACKER_STORE_URL": f"sqlite:///{folder / 'rasa.db'}",
        "SPOOL_DIR": str(folder / "spool"),
    })
    from bot import crypto

    old = crypto.new_key()
    os.environ["DATA_KEYS"] = old
    value = "zebulon.quixotic@example.org, +8613912345"
    token, sealed = crypto.encrypt_text(value), crypto.encrypt_deterministic(value)
    results: dict[str, float | int] = {
        "fernet_encrypt_us": per_call(crypto.encrypt_text, value),
        "fernet_decrypt_us": per_call(crypto.decrypt_text, token),
        "siv_encrypt_us": per_call(crypto.encrypt_deterministic, value),
        "siv_decrypt_us": per_call(crypto.decrypt_deterministic, sealed),
    }

    from sqlalchemy import create_engine, text

    from bot.db import init_db, session_scope
    from bot.leads import QueueFilters, queue_leads
    from bot.models import Lead, Screening, utcnow
    from bot.rotation import rotate_everything

    init_db()
    with session_scope() as session:
        for i in range(args.leads):
            screening = Screening(conversation_id=f"+1555{i:07d}", trial_id="NCT06675422",
                                  status="may_qualify")
            session.add(screening)
            session.flush()
            session.add(Lead(screening_id=screening.id, trial_id="NCT06675422",
                             first_name=f"Name{i}", last_name="Quixotic",
                             email=f"patient{i}@example.org", phone=f"+8613{i:09d}",
                             consent_text="wording", consented_at=utcnow(),
                             outcome="may_qualify", to_confirm=[]))
    with session_scope() as session:
        start = time.perf_counter()
        found = queue_leads(session, QueueFilters(search=f"name{args.leads - 1}"), True)
        results["queue_search_ms"] = (time.perf_counter() - start) * 1000
        assert len(found) == 1

    tracker = create_engine(os.environ["TRACKER_STORE_URL"])
    with tracker.begin() as connection:
        connection.execute(text(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
            "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"))
        data = json.dumps({"event": "user", "text": "I take Benlysta", "parse_data": {}})
        connection.execute(
            text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                 "VALUES (:s, 'user', 0, :i, :d)"),
            [{"s": crypto.encrypt_deterministic(f"+1555{i % max(args.leads, 1):07d}"),
              "i": crypto.encrypt_text("inform"), "d": crypto.encrypt_text(data)}
             for i in range(args.events)],
        )
    tracker.dispose()

    os.environ["DATA_KEYS"] = f"{crypto.new_key()},{old}"
    start = time.perf_counter()
    lines = rotate_everything()
    results["rotate_keys_s"] = time.perf_counter() - start
    results["leads"], results["events"] = args.leads, args.events
    print("\n".join(lines))
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                      for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
