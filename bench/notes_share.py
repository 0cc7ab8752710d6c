"""What a shared note costs the study page's server: making a share, opening it, a look-up.

    .venv/bin/python -m bench.notes_share [--runs 15]

On a temporary SQLite store with a key of its own: times ``create_share`` (argon2id hash of the
passcode, sealing the notes, one insert) for one short note and for the largest share allowed
(50,000 characters), ``open_share`` with the right passcode (argon2id check, decrypting), and
``look_up`` (what the link's page does before a passcode). Prints the median and the slowest in
milliseconds, with the machine's load average, since argon2id's cost is CPU and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(action: Callable[[], object], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="notes-bench-"))
    os.environ["DOTENV_DISABLED"] = "1"
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
    from bot import crypto

    os.environ["DATA_KEYS"] = crypto.new_key()
    os.environ["DATA_KEY_FILE"] = str(folder / "unused-key-file")
    from bot import notes_store
    from bot.db import init_db

    init_db()
    short = [{"quote": "This study tests a new treatment", "note": "ask about my dose"}]
    largest = [{"quote": "q" * 500, "note": "n" * 2000}] * 20
    passcode = "bench-passcode-1"
    made = notes_store.create_share(largest, passcode, "NCT06675422", "en")
    results = {
        "create_short": timed(
            lambda: notes_store.create_share(short, passcode, "NCT06675422", "en"), args.runs),
        "create_largest": timed(
            lambda: notes_store.create_share(largest, passcode, "NCT06675422", "en"), args.runs),
        "open_right_passcode_largest": timed(
            lambda: notes_store.open_share(made.token, passcode), args.runs),
        "look_up": timed(lambda: notes_store.look_up(made.token), args.runs),
    }
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": args.runs,
        **results,
    }, indent=2))


if __name__ == "__main__":
    main()
