"""Per-turn latency and throughput of whole screenings through the REST channel.

Starts the real action server and Rasa server (SQLite stores in a temporary folder), then runs
screenings that answer every question in free text: first one patient at a time, then several
at once. Prints p50/p95 per turn and messages per second.

    .venv/bin/python -m bench.rest_turns [--patients 8] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.db import init_db
from bot.deploy.services import Services, free_port, latest_model, rasa_environment
from bot.protocol import get_protocol

ANSWERS = {
    "diagnosis": "yes", "lupus_meds": "prednisone and cellcept", "steroid_dose": "10 mg a day",
    "treatment_duration": "4 months", "age": "34", "sex": "female", "dose_stable": "yes",
    "lupus_active": "yes", "symptoms": "yes", "antibodies": "yes", "guardian": "yes",
}


def talk(url: str, sender: str, text: str) -> tuple[list[dict], float]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        replies = json.loads(response.read())
    return replies, (time.perf_counter() - start) * 1000


def screening(url: str, sender: str, questions: dict[str, str]) -> list[float]:
    times = []
    replies, ms = talk(url, sender, "hi")
    times.append(ms)
    replies, ms = talk(url, sender, "yes")
    times.append(ms)
    for _ in range(60):
        qid = next((questions[m["text"]] for m in reversed(replies)
                    if m.get("text") in questions), None)
        if qid is None:
            return times
        replies, ms = talk(url, sender, ANSWERS.get(qid, "no"))
        times.append(ms)
    raise RuntimeError("screening did not end")


def summary(label: str, times: list[float], seconds: float) -> None:
    times = sorted(times)
    print(f"{label}: {len(times)} turns, p50 {statistics.median(times):.0f} ms, "
          f"p95 {times[int(len(times) * .95)]:.0f} ms, {len(times) / seconds:.1f} messages/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    protocol = get_protocol("NCT06675422")
    questions = {q.text.get(): q.id for q in protocol.questions}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        db_url = f"sqlite:///{base / 'prescreen.db'}"
        init_db(db_url)
        rasa_port, action_port = free_port(), free_port()
        env = rasa_environment(rasa_port, action_port, {
            "DATABASE_URL": db_url, "TRACKER_STORE_URL": f"sqlite:///{base / 'rasa.db'}",
            "OUTBOX_DIR": str(base / "outbox"), "DOTENV_DISABLED": "1", "SMTP_HOST": ""})
        services = Services(rasa_port, action_port, latest_model(), env, base / "log").start(300)
        url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        try:
            print(f"machine: {os.cpu_count()} cores, {platform.machine()}, "
                  f"Python {platform.python_version()}")
            screening(url, "warm-up", questions)
            start = time.perf_counter()
            times = [t for i in range(2) for t in screening(url, f"seq-{i}", questions)]
            summary("1 patient at a time", times, time.perf_counter() - start)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                runs = list(pool.map(lambda i: screening(url, f"par-{i}", questions),
                                     range(args.patients)))
            summary(f"{args.concurrency} patients at once", [t for r in runs for t in r],
                    time.perf_counter() - start)
        finally:
            services.stop()


if __name__ == "__main__":
    main()
