"""Starts and stops the pre-screener's processes: the action server, the Rasa server, and the
web processes beside them (the study page; the staff console is another such process).

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

from bot.deploy.action_server import SECRET_ENV, endpoint_host, load_action_server_settings
from bot.logs import LOGGING_CONFIG
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
    action_server = load_action_server_settings(env)
    env[SECRET_ENV] = action_server.secret
    env["ACTION_SERVER_HOST"] = action_server.host
    env["ACTION_ENDPOINT_URL"] = (
        f"http://{endpoint_host(action_server.host)}:{action_port}/webhook"
    )
    env.setdefault("FORCE_JSON_LOGGING", "1")  # structlog events as JSON, which bot.logs reads
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


@dataclass(frozen=True)
class WebProcess:
    """A web process started beside Rasa: its command, where it says it is up, what to open."""

    name: str
    args: list[str]
    health_url: str
    url: str


def site_process(port: int, rasa_port: int, host: str = "127.0.0.1") -> WebProcess:
    """The study page with the chat widget (``python -m bot site``), talking to Rasa's socket.io."""
    return WebProcess(
        name="site",
        args=[
            sys.executable, "-m", "bot", "site",
            "--host", host, "--port", str(port), "--rasa-port", str(rasa_port),
        ],
        health_url=f"http://{host}:{port}/healthz",
        url=f"http://localhost:{port}",
    )


def console_process(port: int, host: str = "127.0.0.1") -> WebProcess:
    """The staff console (``python -m bot console``): queue, transcripts, funnel, audit."""
    return WebProcess(
        name="console",
        args=[sys.executable, "-m", "bot", "console", "--port", str(port)],
        health_url=f"http://{host}:{port}/sign-in",
        url=f"http://localhost:{port}",
    )


@dataclass
class Services:
    """The running processes; stop() ends them all.

    ``web`` lists the web processes to start with Rasa (``site_process(...)``, and any other a
    feature adds the same way); ``start_web`` starts one more while the others run.
    """

    rasa_port: int
    action_port: int
    model: Path
    env: dict[str, str]
    log_dir: Path
    credentials: Path = PROJECT_ROOT / "credentials.yml"
    web: list[WebProcess] = field(default_factory=list)
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
            [sys.executable, "-m", "actions.server", "--actions", "actions",
             "--port", str(self.action_port), "--logging-config-file", str(LOGGING_CONFIG)],
        )
        server = self._spawn(
            "rasa",
            [
                rasa, "run",
                "--model", str(self.model),
                "--endpoints", "endpoints.yml",
                "--credentials", str(self.credentials),
                "--port", str(self.rasa_port),
                "--interface", "127.0.0.1",
                "--logging-config-file", str(LOGGING_CONFIG),
                "--cors", "*",
            ],
        )
        web = [(w, self._spawn(w.name, w.args)) for w in self.web]
        try:
            wait_for_http(f"http://127.0.0.1:{self.action_port}/health", timeout, actions)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/", timeout, server)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/", timeout, server)
            for process, proc in web:
                wait_for_http(process.health_url, timeout, proc)
        except Exception:
            self.stop()
            raise
        return self

    def start_web(self, process: WebProcess, timeout: float = 60) -> WebProcess:
        """Start one more web process now and wait until it answers."""
        if process.name in self.processes:
            raise ValueError(f"{process.name} is already running")
        proc = self._spawn(process.name, process.args)
        self.web.append(process)
        try:
            wait_for_http(process.health_url, timeout, proc)
        except Exception:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            del self.processes[process.name]
            self.web.remove(process)
            raise
        return process

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
