"""``python -m bot site``: the study page with the chat widget, served by waitress."""

from __future__ import annotations

import argparse
import os

from bot.cli import command


@command
def _site(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("site", help="serve the study page with the chat widget")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, help="port (SITE_PORT, else 8000)")
    p.add_argument("--trial", help="the trial the home page shows (DEFAULT_TRIAL)")
    p.add_argument("--rasa-port", type=int, help="Rasa's port on the page's host (RASA_PORT)")
    p.add_argument("--rasa-url", help="Rasa's public URL when it is elsewhere (RASA_PUBLIC_URL)")

    def run(args: argparse.Namespace) -> int:
        from waitress import serve

        from bot.protocol import ProtocolError
        from bot.settings import load_settings
        from bot.site.app import SiteError, create_app

        load_settings()
        _open_store()
        port = args.port or int(os.environ.get("SITE_PORT") or 8000)
        try:
            app = create_app({
                "TRIAL_ID": args.trial,
                "RASA_PORT": args.rasa_port or int(os.environ.get("RASA_PORT") or 5005),
                "RASA_URL": args.rasa_url or os.environ.get("RASA_PUBLIC_URL") or None,
            })
        except (SiteError, ProtocolError) as error:
            print(f"cannot serve the study page: {error}")
            return 1
        print(f"study page: http://{args.host}:{port}", flush=True)
        serve(app, host=args.host, port=port, threads=8, ident="prescreen")
        return 0

    p.set_defaults(handler=run)


def _open_store() -> None:
    """The contact form writes leads: bring the store up to date, as every command that opens it
    does. A database that is down does not keep the page (and its chat) from serving: the form's
    leads are spooled until it is back."""
    import logging

    from sqlalchemy.exc import OperationalError

    from bot.db import init_db

    try:
        init_db()
    except OperationalError:
        logging.getLogger(__name__).warning("database unreachable: contact form leads will be "
                                            "spooled until it is back")
