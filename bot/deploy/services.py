"""Starts and stops the pre-screener's processes: the action server, the Rasa server, and the
web processes beside them (the study page; the staff console is another such process).

Used by ``python -m bot run`` (``make run``) and by the end-to-end tests, so both run the same
thing. Children are started in their own process group and stopped together on Ctrl-C.

:meth:`Services.supervise` keeps them running: a child that exits, or stops answering its health
check, is restarted after a delay that doubles with each quick failure (1 s up to 60 s). What it
logs is the process's name, exit code, uptime and delay: never anything a patient said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.deploy.action_server import SECRET_ENV, endpoint_host, load_action_server_settings
from bot.deploy.credentials import site_origins
from bot.files import UMASK, open_private, private_dir
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


def outbox_worker_command() -> list[str]:
    """The outbox worker: sends the emails and stores spooled leads (``bot.outbox_worker``)."""
    return [sys.executable, "-m", "bot", "outbox-worker"]


def _answers(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except OSError:
        return False


@dataclass
class Restarts:
    """The supervisor's policy: how long to wait before a restart, and when a child is hung."""

    first_delay: float = 1.0
    max_delay: float = 60.0
    stable_after: float = 60.0  # a child that ran this long starts again from first_delay
    check_every: float = 5.0  # seconds between health checks of one child
    check_timeout: float = 3.0
    hung_after: int = 6  # health checks missed in a row before a child is killed
    start_grace: float = 300.0  # how long a (re)started child may take to answer at all


@dataclass
class _Child:
    started: float
    ready: bool = False
    misses: int = 0
    last_check: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None
    restarts: int = 0


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
    outbox_worker: bool = True
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # What each child was started with, and the URL that says it is up: for restarts.
    commands: dict[str, list[str]] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        # Logs 0600 in a 0700 folder; what the child creates (Rasa's tracker database and its
        # journal, its own files) is its user's alone too (umask 077).
        private_dir(self.log_dir)
        log = open_private(self.log_dir / f"{name}.log", "ab", encoding=None)
        proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=UMASK,
        )
        log.close()  # the child has its own copy
        self.processes[name] = proc
        self.commands[name] = list(args)
        return proc

    def start(self, timeout: float = 180) -> Services:
        # Rasa itself, with the action-call guard (a short timeout and a kind reply when the
        # action server is down or hung) installed first: channels/action_calls.py.
        rasa = [sys.executable, "-m", "channels.action_calls"]
        actions = self._spawn(
            "actions",
            [sys.executable, "-m", "actions.server", "--actions", "actions",
             "--port", str(self.action_port), "--logging-config-file", str(LOGGING_CONFIG)],
        )
        server = self._spawn(
            "rasa",
            [
                *rasa, "run",
                "--model", str(self.model),
                "--endpoints", "endpoints.yml",
                "--credentials", str(self.credentials),
                "--port", str(self.rasa_port),
                "--interface", "127.0.0.1",
                "--logging-config-file", str(LOGGING_CONFIG),
                "--cors", *site_origins(self.env),  # the study page alone (SITE_ORIGIN)
            ],
        )
        web = [(w, self._spawn(w.name, w.args)) for w in self.web]
        if self.outbox_worker:
            self._spawn("outbox", outbox_worker_command())
        self.health.update({
            "actions": f"http://127.0.0.1:{self.action_port}/health",
            "rasa": f"http://127.0.0.1:{self.rasa_port}/",
            **{w.name: w.health_url for w in self.web},
        })
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
        self.health[process.name] = process.health_url
        try:
            wait_for_http(process.health_url, timeout, proc)
        except Exception:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            del self.processes[process.name]
            del self.health[process.name]
            self.web.remove(process)
            raise
        return process

    def supervise(
        self,
        stop: threading.Event,
        report: Callable[[str], None] = print,
        policy: Restarts | None = None,
    ) -> None:
        """Restart what dies or hangs until ``stop`` is set; then return (call :meth:`stop`).

        ``report`` gets one line per exit, kill and restart (names and numbers only).
        """
        policy = policy or Restarts()
        now = time.monotonic()
        children = {name: _Child(started=now, ready=True) for name in self.processes}
        while not stop.is_set():
            now = time.monotonic()
            for name, child in children.items():
                if stop.is_set():
                    break
                proc = self.processes[name]
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        self._spawn(name, self.commands[name])
                        child.restarts += 1
                        self.restarts[name] = child.restarts
                        child.started, child.ready, child.misses = now, False, 0
                        child.restart_at = None
                        report(f"{name} restarted (restart {child.restarts}, "
                               f"pid {self.processes[name].pid})")
                    continue
                code = proc.poll()
                if code is None and name in self.health and now - child.last_check >= (
                    policy.check_every
                ):
                    child.last_check = now
                    if _answers(self.health[name], policy.check_timeout):
                        if not child.ready:
                            report(f"{name} is answering again")
                        child.ready, child.misses = True, 0
                    elif child.ready:
                        child.misses += 1
                    if (child.ready and child.misses >= policy.hung_after) or (
                        not child.ready and now - child.started > policy.start_grace
                    ):
                        report(f"{name} does not answer; killing it")
                        self._kill(proc)
                        code = proc.returncode
                if code is None:
                    continue
                uptime = now - child.started
                child.delay = (
                    policy.first_delay
                    if uptime >= policy.stable_after or not child.delay
                    else min(policy.max_delay, child.delay * 2)
                )
                child.restart_at = now + child.delay
                report(f"{name} exited with {code} after {uptime:.0f} s; restarting in "
                       f"{child.delay:.0f} s; log: {self.log_dir / (name + '.log')}")
            stop.wait(0.5)

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self, grace: float = 15) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)  # a stopped child cannot act on TERM
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(proc)
        self.processes.clear()


def latest_model(models_dir: Path | None = None) -> Path:
    models_dir = models_dir or PROJECT_ROOT / "models"
    candidates = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError("no trained model in models/: run `make model`")
    return candidates[-1]
