"""``python -m bot erase`` and ``python -m bot purge``: erasure, and the retention purge.

  python -m bot erase --email E | --phone P | --conversation C  [...]  [--yes] [--dry-run]
  python -m bot purge [--days N] [--dry-run]          (default: RETENTION_DAYS, else 90)

Both print what they removed as counts, never a patient's details, and leave an audit record.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli import command


def _print_counts(heading: str, counts) -> None:  # type: ignore[no-untyped-def]
    print(heading)
    for name, count in counts.items():
        print(f"  {name.replace('_', ' '):<15} {count}")


@command
def _erase(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "erase",
        help="remove one patient's data everywhere (screenings, answers, lead, notes, opt-ins, "
        "outbox, transcript)",
    )
    p.add_argument("--email", action="append", default=[], help="the patient's email (repeatable)")
    p.add_argument("--phone", action="append", default=[],
                   help="the patient's phone number, with its country code (repeatable)")
    p.add_argument("--conversation", action="append", default=[],
                   help="a conversation id, as the console shows it (repeatable)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    p.add_argument("--no-vacuum-full", dest="vacuum_full", action="store_false",
                   help="PostgreSQL: plain VACUUM instead of VACUUM FULL (no table lock, but the "
                   "freed space keeps the erased bytes until it is reused)")

    def run(args: argparse.Namespace) -> int:
        from bot import erasure
        from bot.db import init_db

        init_db()
        who = {"emails": args.email, "phones": args.phone, "conversations": args.conversation}
        try:
            preview = erasure.erase(**who, dry_run=True)
        except erasure.ErasureError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if not preview.counts.total:
            print("nothing found for this patient")
        else:
            _print_counts("found:", preview.counts)
            if args.dry_run:
                return 0
            if not args.yes:
                try:
                    answer = input("Erase all of it for good? Type 'yes' to go on: ")
                except EOFError:
                    answer = ""
                if answer.strip().lower() != "yes":
                    print("nothing erased")
                    return 1
        if args.dry_run:
            return 0
        result = erasure.erase(**who, vacuum_full=args.vacuum_full)
        _print_counts("erased:", result.counts)
        for line in result.cleanup:
            print(line)
        print(f"audit record: erasure {result.request_id}")
        return 0

    p.set_defaults(handler=run)


@command
def _purge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "purge", help="delete screenings that never became leads, after RETENTION_DAYS, and "
        "readers' shared notes whose link has expired"
    )
    p.add_argument("--days", type=int, help="default: RETENTION_DAYS from .env, else 90")
    p.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    p.add_argument("--no-vacuum-full", dest="vacuum_full", action="store_false",
                   help="PostgreSQL: plain VACUUM instead of VACUUM FULL (no table lock)")

    def run(args: argparse.Namespace) -> int:
        from bot import erasure
        from bot.db import init_db

        init_db()
        try:
            days = args.days if args.days is not None else erasure.retention_days()
            if days < 1:
                raise erasure.ErasureError("--days must be 1 or more")
        except erasure.ErasureError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        result = erasure.purge(days, dry_run=args.dry_run, vacuum_full=args.vacuum_full)
        _print_counts(f"{'would purge' if args.dry_run else 'purged'} (older than {days} days):",
                      result.counts)
        for line in result.cleanup:
            print(line)
        if result.request_id:
            print(f"audit record: purge {result.request_id}")
        return 0

    p.set_defaults(handler=run)
