"""``python -m bot run``: everything on localhost until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import time

from bot.cli import command


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
            log_dir=PROJECT_ROOT / "var" / "log",
            credentials=credentials,
            web=[site, console],
        )
        print(f"channels: {', '.join(channels)}")
        print("starting the action server, Rasa, the study page and the staff console "
              "(loading the model takes a little while)...")
        stopping = False

        def stop(_signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        services.start()
        print(f"Study page:    {site.url}  (the trial and its chat widget)")
        print(f"Staff console: {console.url}  (add staff: python -m bot staff add --help)")
        print(f"Rasa:          http://localhost:{rasa_port}  (REST: /webhooks/rest/webhook)")
        print(f"Action server: http://localhost:{action_port}")
        print("Logs in var/log/. Press Ctrl-C to stop.")
        try:
            while not stopping:
                for name, proc in services.processes.items():
                    if proc.poll() is not None:
                        print(f"{name} exited with {proc.returncode}; see var/log/{name}.log")
                        stopping = True
                time.sleep(0.5)
        finally:
            print("stopping...")
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
            [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions",
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
