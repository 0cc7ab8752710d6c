"""``python -m bot run``: everything on localhost until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from bot.cli import command


def sets_on_signal(event: threading.Event) -> Callable[[int, object], None]:
    """A signal handler that sets ``event`` from another thread.

    Python runs signal handlers in the main thread, between two of its bytecodes: when that is
    inside ``event.wait()`` while the main thread holds the event's lock, ``event.set()`` in the
    handler waits for that same lock forever (an outbox worker was seen hung so on SIGTERM).
    A thread of its own waits until the main thread lets the lock go.
    """

    def handler(_signum: int, _frame: object) -> None:
        threading.Thread(target=event.set, name="stop-signal", daemon=True).start()

    return handler


def purged_before_start() -> bool:
    """Purge what is past RETENTION_DAYS before any server starts; False (said why) when the
    purge cannot run, and then nothing should start."""
    from bot.erasure import ErasureError, purge_at_start

    try:
        purged = purge_at_start()
    except ErasureError as error:
        print(f"cannot start: {error}")
        return False
    if purged:
        print(purged)
    return True


@command
def _run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="start the action server, Rasa and the study page on localhost"
    )

    def run(_args: argparse.Namespace) -> int:
        from bot.db import init_db
        from bot.deploy.credentials import CredentialsError, write_credentials
        from bot.deploy.services import (
            Services,
            console_process,
            latest_model,
            rasa_environment,
            site_process,
        )
        from bot.settings import PROJECT_ROOT, load_settings

        load_settings()
        init_db()
        if not purged_before_start():  # RETENTION_DAYS, before any server
            return 1
        rasa_port = int(os.environ.get("RASA_PORT") or 5005)
        action_port = int(os.environ.get("ACTION_PORT") or 5055)
        site_port = int(os.environ.get("SITE_PORT") or 8000)
        credentials = PROJECT_ROOT / "var" / "credentials.yml"
        try:
            channels = write_credentials(credentials)
        except CredentialsError as error:
            print(f"cannot start: {error}")
            return 1
        site = site_process(site_port, rasa_port)
        console = console_process(int(os.environ.get("CONSOLE_PORT") or 5006))
        services = Services(
            rasa_port=rasa_port,
            action_port=action_port,
            model=latest_model(),
            env=rasa_environment(rasa_port, action_port),
            log_dir=Path(os.environ.get("LOG_DIR") or PROJECT_ROOT / "var" / "log"),
            credentials=credentials,
            web=[site, console],
        )
        print(f"channels: {', '.join(channels)}")
        print("starting the action server, Rasa, the study page and the staff console "
              "(loading the model takes a little while)...")
        stop_event = threading.Event()
        signal.signal(signal.SIGINT, sets_on_signal(stop_event))
        signal.signal(signal.SIGTERM, sets_on_signal(stop_event))
        services.start()
        print(f"Study page:    {site.url}  (the trial and its chat widget)")
        print(f"Staff console: {console.url}  (add staff: python -m bot staff add --help)")
        print(f"Rasa:          http://localhost:{rasa_port}  (REST: /webhooks/rest/webhook)")
        print(f"Action server: http://localhost:{action_port}")
        print("Outbox worker: sends the email copies (SMTP_HOST, or var/outbox/)")
        print("Logs in var/log/. A process that stops is restarted. Press Ctrl-C to stop.",
              flush=True)
        try:
            services.supervise(stop_event, report=lambda line: print(line, flush=True))
        finally:
            print("stopping...", flush=True)
            services.stop()
        return 0

    p.set_defaults(handler=run)


@command
def _shell(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shell", help="talk to the bot in this terminal (starts an action server)")

    def run(_args: argparse.Namespace) -> int:
        import subprocess

        from bot.db import init_db
        from bot.deploy.services import VENV_BIN, free_port, latest_model, rasa_environment
        from bot.settings import PROJECT_ROOT, load_settings

        load_settings()
        init_db()
        action_port = free_port()
        env = rasa_environment(free_port(), action_port)
        actions = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "actions.server", "--actions", "actions",
             "--port", str(action_port)],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            return subprocess.call(
                [str(VENV_BIN / "rasa"), "shell", "--model", str(latest_model()),
                 "--endpoints", "endpoints.yml"],
                cwd=PROJECT_ROOT, env=env,
            )
        finally:
            actions.terminate()
            actions.wait()

    p.set_defaults(handler=run)


@command
def _outbox_worker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "outbox-worker",
        help="send the outbox's emails and store spooled leads, until stopped (bot run starts it)",
    )
    p.add_argument("--poll", type=float, help="seconds between idle rounds (OUTBOX_POLL_SECONDS)")

    def run(args: argparse.Namespace) -> int:
        import logging
        import threading

        from bot import outbox_worker
        from bot.db import init_db
        from bot.settings import load_settings

        load_settings()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        init_db()
        stop = threading.Event()
        signal.signal(signal.SIGINT, sets_on_signal(stop))
        signal.signal(signal.SIGTERM, sets_on_signal(stop))
        outbox_worker.run(stop, args.poll)
        return 0

    p.set_defaults(handler=run)


@command
def _run_cluster(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run-cluster",
        help="the replicated deployment: Rasa replicas and action servers behind nginx, on "
             "PostgreSQL and Redis (docs/scaling.md)",
    )

    def run(_args: argparse.Namespace) -> int:
        from bot.db import init_db
        from bot.deploy.cluster import (
            ClusterConfigError,
            ClusterSettings,
            build_cluster,
            cluster_environment,
        )
        from bot.deploy.credentials import CredentialsError, write_credentials
        from bot.deploy.services import console_process, latest_model, site_process
        from bot.settings import PROJECT_ROOT, load_settings

        load_settings()
        try:
            settings = ClusterSettings.from_env(os.environ)
        except ClusterConfigError as error:
            print(f"cannot start the cluster: {error}")
            return 1
        os.environ["DATABASE_URL"] = settings.database_url
        init_db(settings.database_url)  # once, under the migration lock
        if not purged_before_start():
            return 1
        credentials = PROJECT_ROOT / "var" / "credentials.yml"
        try:
            channels = write_credentials(credentials)
        except CredentialsError as error:
            print(f"cannot start: {error}")
            return 1
        site = site_process(int(os.environ.get("SITE_PORT") or 8000), settings.public_port)
        console = console_process(int(os.environ.get("CONSOLE_PORT") or 5006))
        try:
            cluster = build_cluster(
                settings,
                cluster_environment(settings),
                model=latest_model(),
                log_dir=Path(os.environ.get("LOG_DIR") or PROJECT_ROOT / "var" / "log"),
                credentials=credentials,
                web=[site, console],
            )
        except ClusterConfigError as error:
            print(f"cannot start the cluster: {error}")
            return 1
        print(f"channels: {', '.join(channels)}")
        print(f"starting {settings.replicas} Rasa replicas and {settings.replicas} action "
              "servers behind nginx, the study page, the console and the outbox worker "
              "(loading the model takes a little while)...", flush=True)
        stop_event = threading.Event()
        signal.signal(signal.SIGINT, sets_on_signal(stop_event))
        signal.signal(signal.SIGTERM, sets_on_signal(stop_event))
        cluster.start()
        print(f"Study page:    {site.url}")
        print(f"Staff console: {console.url}")
        print(f"Rasa (nginx):  http://localhost:{settings.public_port}  -> replicas on ports "
              f"{', '.join(map(str, cluster.rasa_ports))}")
        print(f"Action servers (nginx, loopback): port {settings.action_port} -> "
              f"{', '.join(map(str, cluster.action_ports))}")
        print("Tracker store and database: PostgreSQL; lock store: Redis. Logs in var/log/. "
              "Press Ctrl-C to stop.", flush=True)
        try:
            cluster.supervise(stop_event, report=lambda line: print(line, flush=True))
        finally:
            print("stopping...", flush=True)
            cluster.stop()
        return 0

    p.set_defaults(handler=run)
