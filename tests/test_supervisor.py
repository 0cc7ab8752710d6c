"""``bot run``'s supervisor (``Services.supervise``) on real child processes: a child that dies
is restarted, one that keeps dying waits longer each time, a hung one is killed and restarted,
and what it reports names processes and numbers only."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from bot.deploy.services import Restarts, Services, free_port

FAST = Restarts(first_delay=0.2, max_delay=2.0, stable_after=30.0, check_every=0.3,
                check_timeout=0.3, hung_after=3, start_grace=20.0)


class Supervised:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.lines: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=services.supervise, args=(self.stop, self.lines.append, FAST), daemon=True
        )

    def pid(self, name: str) -> int:
        return self.services.processes[name].pid

    def wait_new_pid(self, name: str, old: int, timeout: float = 20) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            proc = self.services.processes[name]
            if proc.pid != old and proc.poll() is None:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"{name} was not restarted: {self.lines}")


@pytest.fixture()
def supervised(tmp_path) -> Iterator[Supervised]:
    port = free_port()
    services = Services(rasa_port=0, action_port=0, model=tmp_path, env=dict(os.environ),
                        log_dir=tmp_path / "log", outbox_worker=False)
    services._spawn("web", [sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1"])
    services._spawn("worker", [sys.executable, "-c", "import time; time.sleep(600)"])
    services.health["web"] = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(services.health["web"], timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    watcher = Supervised(services)
    watcher.thread.start()
    yield watcher
    watcher.stop.set()
    watcher.thread.join(10)
    services.stop(grace=5)


def test_a_killed_child_is_restarted(supervised):
    old = supervised.pid("worker")
    os.kill(old, signal.SIGKILL)
    took = supervised.wait_new_pid("worker", old)
    assert took < 3
    assert any(line.startswith("worker exited with -9") for line in supervised.lines)
    assert any(line.startswith("worker restarted (restart 1") for line in supervised.lines)
    assert supervised.services.restarts["worker"] == 1
    assert supervised.services.processes["web"].poll() is None  # the others were left running


def test_a_child_that_keeps_dying_waits_longer_each_time(supervised):
    delays = []
    for _ in range(3):
        old = supervised.pid("worker")
        os.kill(old, signal.SIGKILL)
        supervised.wait_new_pid("worker", old)
    for line in supervised.lines:
        if line.startswith("worker exited"):
            delays.append(float(line.split("restarting in ")[1].split(" s")[0]))
    assert delays == sorted(delays) and delays[-1] > delays[0]


def test_a_hung_child_is_killed_and_restarted(supervised):
    old = supervised.pid("web")
    os.kill(old, signal.SIGSTOP)
    took = supervised.wait_new_pid("web", old)
    assert took < 10
    assert "web does not answer; killing it" in supervised.lines
    deadline = time.monotonic() + 20
    while "web is answering again" not in supervised.lines:
        assert time.monotonic() < deadline, supervised.lines
        time.sleep(0.1)


def test_stopping_ends_every_child(supervised):
    procs = list(supervised.services.processes.values())
    os.kill(procs[0].pid, signal.SIGSTOP)  # a stopped child is ended too
    supervised.stop.set()
    supervised.thread.join(10)
    supervised.services.stop(grace=5)
    assert all(p.poll() is not None for p in procs)
