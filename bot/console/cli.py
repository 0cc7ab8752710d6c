"""``python -m bot staff ...`` and ``python -m bot console``: staff accounts and the console.

  python -m bot staff add --email E --name N --role coordinator|monitor   (asks for the password)
  python -m bot staff add ... --password-stdin                            (reads it from stdin)
  python -m bot staff list
  python -m bot staff disable --email E                                    (ends its sessions)
  python -m bot staff enable --email E
  python -m bot staff password --email E [--password-stdin]               (ends its sessions)
  python -m bot console [--port 5006]                                      (on 127.0.0.1 only)
"""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.cli import command

LISTEN_HOST = "127.0.0.1"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


@command
def _staff(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("staff", help="staff accounts for the console")
    actions = p.add_subparsers(dest="staff_command", required=True)

    add = actions.add_parser("add", help="create a staff account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=("coordinator", "monitor"),
                     help="a coordinator sees contact details; a monitor sees them masked")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")

    actions.add_parser("list", help="list staff accounts")

    disable = actions.add_parser("disable", help="stop an account signing in; ends its sessions")
    disable.add_argument("--email", required=True)

    enable = actions.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("--email", required=True)

    password = actions.add_parser(
        "password", help="set a new password; ends the account's sessions"
    )
    password.add_argument("--email", required=True)
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of standard input")

    def run(args: argparse.Namespace) -> int:
        from bot.console import accounts, audit
        from bot.db import init_db

        init_db()
        try:
            if args.staff_command == "add":
                user = accounts.add_staff(
                    args.email, args.name, args.role, _read_password(args.password_stdin)
                )
                audit.record(audit.Action.STAFF_ADDED, "command line", detail=f"{user.email} "
                             f"as {user.role}")
                print(f"added {user.email} ({user.role})")
            elif args.staff_command == "disable":
                accounts.set_active(args.email, False)
                audit.record(audit.Action.STAFF_DISABLED, "command line",
                             detail=accounts.normalise_email(args.email))
                print(f"disabled {args.email}")
            elif args.staff_command == "enable":
                accounts.set_active(args.email, True)
                audit.record(audit.Action.STAFF_ENABLED, "command line",
                             detail=accounts.normalise_email(args.email))
                print(f"enabled {args.email}")
            elif args.staff_command == "password":
                accounts.set_password(args.email, _read_password(args.password_stdin))
                audit.record(audit.Action.PASSWORD_RESET, "command line",
                             detail=accounts.normalise_email(args.email))
                print(f"new password set for {args.email}; its sessions have ended")
            else:
                users = accounts.list_staff()
                if not users:
                    print("no staff accounts: add one with `python -m bot staff add`")
                for u in users:
                    last = u.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if u.last_sign_in_at \
                        else "never"
                    state = "" if u.active else "  (disabled)"
                    print(f"{u.email:<32} {u.role:<12} {u.name:<24} last sign-in: {last}{state}")
        except accounts.AccountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    p.set_defaults(handler=run)


@command
def _console(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="serve the staff console on localhost")
    p.add_argument("--port", type=int, help="default: CONSOLE_PORT, else 5006")

    def run(args: argparse.Namespace) -> int:
        import logging

        from waitress import serve

        from bot.console.app import create_app
        from bot.console.settings import load_console_settings
        from bot.db import init_db

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        init_db()
        config = load_console_settings()
        port = args.port or config.port
        app = create_app(config)
        print(f"Staff console: http://localhost:{port}  (add staff with `python -m bot staff add`)")
        if not config.cookie_secure:
            print("warning: CONSOLE_COOKIE_SECURE is off: session cookies may travel unencrypted")
        serve(app, host=LISTEN_HOST, port=port, threads=8, ident="console")
        return 0

    p.set_defaults(handler=run)
