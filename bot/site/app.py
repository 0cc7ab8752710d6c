"""The study page: the trial from its protocol file, and the chat widget talking to Rasa.

``create_app`` builds the Flask app; ``python -m bot site`` serves it with waitress. The widget
speaks socket.io to Rasa's ``socketio`` channel; its client library comes from npm
(``node_modules/``, installed by ``make``) and is served from here: the page loads nothing from
any other origin, and its Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, current_app, render_template, request, send_from_directory

from bot.protocol import get_protocol, trials_dir
from bot.settings import PROJECT_ROOT
from bot.site.content import (
    greeting_payload,
    page_languages,
    text,
    trial_page,
    widget_strings,
)

SOCKET_IO_CLIENT = "socket.io.min.js"
DEFAULTS: dict[str, Any] = {
    "TRIAL_ID": None,  # None: DEFAULT_TRIAL from the environment
    "RASA_URL": None,  # None: the page's own host name, on RASA_PORT
    "RASA_PORT": 5005,
    "SOCKET_PATH": "/socket.io",
    "VENDOR_DIR": PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist",
    "LANGUAGE": "en",
}
_TRIAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SiteError(RuntimeError):
    """The site cannot start (its browser files are not installed)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    vendor = Path(app.config["VENDOR_DIR"])
    if not (vendor / SOCKET_IO_CLIENT).is_file():
        raise SiteError(
            f"{vendor / SOCKET_IO_CLIENT} is missing: run `make node-modules` (npm ci) first"
        )
    get_protocol(app.config["TRIAL_ID"])  # a home page without its trial fails now, not per request

    @app.get("/")
    def home() -> str:
        return _render_trial(app.config["TRIAL_ID"])

    @app.get("/trials/<trial_id>")
    def trial(trial_id: str) -> str:
        if not _TRIAL_ID.match(trial_id) or not (trials_dir() / f"{trial_id}.yml").is_file():
            abort(404)
        return _render_trial(trial_id)

    @app.get("/vendor/socket.io.min.js")
    def socket_io_client() -> Response:
        return send_from_directory(vendor, SOCKET_IO_CLIENT, mimetype="text/javascript",
                                   max_age=3600)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.errorhandler(404)
    def not_found(_error: Exception) -> tuple[str, int]:
        lang = app.config["LANGUAGE"]
        return render_template("not_found.html", t=_words(lang), lang=lang), 404

    @app.after_request
    def security_headers(response: Response) -> Response:
        rasa = rasa_url()
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {rasa} {websocket_url(rasa)}; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return app


def rasa_url() -> str:
    """Where the widget finds Rasa: as configured, or this page's host name on Rasa's port."""
    configured = current_app.config["RASA_URL"]
    if configured:
        return str(configured).rstrip("/")
    host = request.host
    hostname = host if host.endswith("]") or ":" not in host else host.rsplit(":", 1)[0]
    return f"{request.scheme}://{hostname}:{current_app.config['RASA_PORT']}"


def websocket_url(http_url: str) -> str:
    return re.sub(r"^http", "ws", http_url)


def _words(language: str):
    return lambda key, **values: text(key, language, **values)


def _render_trial(trial_id: str | None) -> str:
    protocol = get_protocol(trial_id)
    offered = page_languages(protocol)
    # The page's language switch (?lang=zh): one of the trial's languages, else the site's own.
    lang = request.args.get("lang") or current_app.config["LANGUAGE"]
    if lang not in offered:
        lang = current_app.config["LANGUAGE"] if current_app.config["LANGUAGE"] in offered else (
            offered[0] if offered else current_app.config["LANGUAGE"])
    page = trial_page(protocol, lang)
    widget = {
        "socketUrl": rasa_url(),
        "socketPath": current_app.config["SOCKET_PATH"],
        "trialId": page.trial_id,
        "initPayload": greeting_payload(page.trial_id, lang),
        "strings": widget_strings(lang),
    }
    switch = [(code, text("language_name", code)) for code in offered]
    return render_template("trial.html", page=page, widget=widget, t=_words(lang), lang=lang,
                           languages=switch if len(switch) > 1 else [])
