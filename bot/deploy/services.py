"""Starts and stops the pre-screener's processes: the action server and the Rasa server.

Used by ``python -m bot run`` (``make run``) and by the end-to-end tests, so both run the same
thing. Children are started in their own process group and stopped together on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import PROJECT_ROOT, load_settings

VENV_BIN = Path(sys.executable).parent


def tracker_store_env(url: str | None) -> dict[str, str]:
    """The TRACKER_* variables endpoints.yml reads, from one URL."""
    url = url or f"sqlite:///{PROJECT_ROOT / 'var' / 'rasa.db'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        return {"TRACKER_DIALECT": "sqlite", "TRACKER_URL": "", "TRACKER_DB": parsed.database or ""}
    # A URL with "://" is used as it is by Rasa's SQL tracker store.
    return {
        "TRACKER_DIALECT": parsed.get_backend_name(),
        "TRACKER_URL": url,
        "TRACKER_DB": parsed.database or "",
    }


def rasa_environment(
    rasa_port: int, action_port: int, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    load_settings()
    env = dict(os.environ)
    env.update(overrides or {})
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("LOG_LEVEL_LIBRARIES", "ERROR")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{action_port}/webhook"
    env.update(tracker_store_env(env.get("TRACKER_STORE_URL")))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Services:
    """The running processes; stop() ends them all."""

    rasa_port: int
    action_port: int
    model: Path
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        return proc

    def start(self, timeout: float = 180) -> Services:
        rasa = str(VENV_BIN / "rasa")
        actions = self._spawn(
            "actions",
            [rasa, "run", "actions", "--actions", "actions", "--port", str(self.action_port)],
        )
        server = self._spawn(
            "rasa",
            [
                rasa, "run",
                "--model", str(self.model),
                "--endpoints", "endpoints.yml",
                "--credentials", "credentials.yml",
                "--port", str(self.rasa_port),
                "--interface", "127.0.0.1",
                "--cors", "*",
            ],
        )
        try:
            wait_for_http(f"http://127.0.0.1:{self.action_port}/health", timeout, actions)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/", timeout, server)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/", timeout, server)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 15) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def latest_model(models_dir: Path | None = None) -> Path:
    models_dir = models_dir or PROJECT_ROOT / "models"
    candidates = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError("no trained model in models/: run `make model`")
    return candidates[-1]
