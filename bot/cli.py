"""``python -m bot``: the command line for whoever runs a site's pre-screener.

  python -m bot init-db              create the tables
  python -m bot leads [--json]       the contact queue
  python -m bot outbox --send        deliver emails still in the outbox
  python -m bot check-trials         load and check every protocol file
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(register: Callable[[argparse._SubParsersAction], None]):
    """Adds a subcommand; modules that own a feature register their own."""
    _COMMANDS.append(register)
    return register


@command
def _init_db(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init-db", help="create the database tables")

    def run(_args: argparse.Namespace) -> int:
        from bot.db import init_db

        init_db()
        print("database ready")
        return 0

    p.set_defaults(handler=run)


@command
def _leads(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leads", help="print the contact queue")
    p.add_argument("--json", action="store_true", help="one JSON object per lead, as a list")
    p.add_argument("--trial", help="only this trial id")
    p.add_argument("--status", help="only this queue status")

    def run(args: argparse.Namespace) -> int:
        from bot.db import init_db
        from bot.leads import queue_as_dicts

        init_db()
        leads = queue_as_dicts(args.trial, args.status)
        if args.json:
            print(json.dumps(leads, indent=2, ensure_ascii=False))
            return 0
        if not leads:
            print("no leads")
        for lead in leads:
            confirm = ", ".join(c.get("label", c["criterion"]) for c in lead["to_confirm"]) or "-"
            print(
                f"{lead['created_at'][:16]}  {lead['trial_code']:<8} {lead['status']:<12} "
                f"{lead['first_name']} {lead['last_name']} <{lead['email']}> {lead['phone']}  "
                f"confirm: {confirm}"
            )
        return 0

    p.set_defaults(handler=run)


@command
def _outbox(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outbox", help="show or deliver the email outbox")
    p.add_argument("--send", action="store_true", help="deliver what is not sent yet")

    def run(args: argparse.Namespace) -> int:
        from sqlalchemy import func, select

        from bot.db import init_db, session_scope
        from bot.mailer import send_pending
        from bot.models import OutboxMessage

        init_db()
        if args.send:
            sent, failed = send_pending()
            print(f"sent {sent}, failed {failed}")
            return 1 if failed else 0
        with session_scope() as session:
            pending = session.execute(
                select(func.count()).where(OutboxMessage.sent_at.is_(None))
            ).scalar_one()
        print(f"{pending} message(s) waiting")
        return 0

    p.set_defaults(handler=run)


@command
def _check_trials(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-trials", help="load and check every protocol file")

    def run(_args: argparse.Namespace) -> int:
        from bot.consent import unregistered
        from bot.faq_topics import topic_problems
        from bot.messages import languages
        from bot.protocol import (
            ProtocolError,
            all_protocols,
            language_problems,
            site_contact_problems,
        )

        try:
            protocols = all_protocols()
        except ProtocolError as exc:
            print(f"protocol error: {exc}", file=sys.stderr)
            return 1
        for p in protocols:
            print(f"{p.id} ({p.code}): {len(p.questions)} questions, {len(p.criteria)} criteria, "
                  f"{p.status}, in {', '.join(p.languages)}")
        # Every missing translation, every consent whose words changed without a version,
        # every FAQ topic the NLU has no examples of, and a SITE_PHONE or SITE_EMAIL patients
        # could not use.
        problems = (language_problems(protocols, languages()) + unregistered(languages())
                    + topic_problems(protocols) + site_contact_problems())
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0

    p.set_defaults(handler=run)


def main(argv: Sequence[str] | None = None) -> int:
    # Feature modules with commands of their own register them on import.
    import bot.console.cli  # noqa: F401
    import bot.deploy.cli  # noqa: F401
    import bot.erasure_cli  # noqa: F401
    import bot.rotation  # noqa: F401 - rotate-keys, new-data-key
    import bot.site.cli  # noqa: F401
    from bot.files import restrict_umask

    # Whatever this command and its children create (databases, logs, keys) is the service
    # user's alone.
    restrict_umask()
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _COMMANDS:
        register(sub)
    args = parser.parse_args(argv)
    return args.handler(args)
