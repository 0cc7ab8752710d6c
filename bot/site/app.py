"""The study page: the trial from its protocol file, and the chat widget talking to Rasa.

``create_app`` builds the Flask app; ``python -m bot site`` serves it with waitress. The widget
speaks socket.io to Rasa's ``socketio`` channel; its client library comes from npm
(``node_modules/``, installed by ``make``) and is served from here: the page loads nothing from
any other origin, and its Content-Security-Policy says so to the browser.

The page also takes, without the chat, the listing's contact form and its sign-up for news of
other trials: same-origin form posts with a CSRF token (Flask-WTF, in the page's session
cookie), a rate limit per client address (:mod:`bot.ratelimit`, shared through Redis when
``REDIS_URL`` is set), and the chat's validators and consent records (:mod:`bot.site.forms`). A
form with a problem comes back with every typed value kept.

Behind a reverse proxy the client address is the proxy's: ``TRUSTED_PROXIES`` (default 0) is
how many proxies in front of the site set ``X-Forwarded-For`` (werkzeug's ``ProxyFix``); the
address is read from that header only then, and only that many hops back, so a client cannot
choose its own bucket by sending the header itself.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import consent, leads
from bot.files import generated_secret
from bot.messages import msg
from bot.protocol import Protocol, get_protocol, trials_dir
from bot.ratelimit import rate_limiter
from bot.settings import PROJECT_ROOT
from bot.site.content import (
    greeting_payload,
    page_languages,
    text,
    trial_page,
    widget_strings,
)
from bot.site.forms import Submitted, read_contact_form, read_signup_form
from bot.site.notes import init_app as init_notes

log = logging.getLogger(__name__)

SOCKET_IO_CLIENT = "socket.io.min.js"
DEFAULTS: dict[str, Any] = {
    "TRIAL_ID": None,  # None: DEFAULT_TRIAL from the environment
    "RASA_URL": None,  # None: the page's own host name, on RASA_PORT
    "RASA_PORT": 5005,
    "SOCKET_PATH": "/socket.io",
    "VENDOR_DIR": PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist",
    "LANGUAGE": "en",
    # Signs the page's session cookie, which holds the forms' CSRF token. None: SITE_SECRET_KEY,
    # else a key generated once into SECRET_FILE.
    "SECRET_KEY": None,
    "SECRET_FILE": PROJECT_ROOT / "var" / "site-secret-key",
    # Form posts (contact and sign-up together) per client address: FORM_LIMIT at once,
    # refilled over FORM_WINDOW_SECONDS.
    "FORM_LIMIT": 5,
    "FORM_WINDOW_SECONDS": 600,
    # Proxies in front of the site that set X-Forwarded-For. None: TRUSTED_PROXIES, else 0.
    "TRUSTED_PROXIES": None,
}
SESSION_COOKIE = "prescreen_site"
SENT = ("contact", "contact_spooled", "signup")
_TRIAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def trusted_proxies(configured: Any = None) -> int:
    """How many proxies' ``X-Forwarded-For`` hops to trust: ``configured``, else
    ``TRUSTED_PROXIES``, else 0 (the socket's peer is the client)."""
    raw = str(configured if configured is not None else os.environ.get("TRUSTED_PROXIES", ""))
    raw = raw.strip() or "0"
    try:
        count = int(raw)
    except ValueError as error:
        raise ValueError(f"TRUSTED_PROXIES must be a whole number, not {raw!r}") from error
    if count < 0:
        raise ValueError("TRUSTED_PROXIES cannot be negative")
    return count


class SiteError(RuntimeError):
    """The site cannot start (its browser files are not installed)."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.config.update(
        SECRET_KEY=app.config["SECRET_KEY"] or _secret_key(Path(app.config["SECRET_FILE"])),
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("SITE_COOKIE_SECURE", "").lower() in ("1", "true"),
        WTF_CSRF_TIME_LIMIT=None,  # good while the page's browser session lasts
        MAX_CONTENT_LENGTH=16 * 1024,
    )
    CSRFProtect(app)
    proxies = trusted_proxies(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    limiter = rate_limiter(int(app.config["FORM_LIMIT"]), float(app.config["FORM_WINDOW_SECONDS"]),
                           "site_form")
    init_notes(app)  # readers' private notes and their passcode links (bot/site/notes.py)
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

    @app.post("/trials/<trial_id>/contact")
    def contact(trial_id: str) -> Any:
        protocol = _posted_protocol(trial_id)
        lang = _language(protocol, request.form.get("lang"))
        submitted = read_contact_form(request.form)
        submission = request.form.get("submission", "")
        if not limiter.allow(request.remote_addr or "unknown"):
            return _refused(trial_id, lang, "contact", submitted, submission)
        if not submitted.ok:
            return _render_trial(trial_id, lang, contact_form=submitted, submission=submission,
                                 status=400)
        assert submitted.details is not None
        words = consent.wording("form_contact", lang, trial_code=protocol.code,
                                trial_id=protocol.id, site_name=protocol.site_name(lang))
        try:
            stored = leads.submit_form_lead(submission, protocol.id, submitted.details,
                                            words.text, lang, words.version)
        except ValueError:  # the page's submission id was tampered with: a fresh form
            submitted.errors["form"] = "form_expired"
            return _render_trial(trial_id, lang, contact_form=submitted, status=400)
        sent = "contact_spooled" if stored is leads.Stored.SPOOL else "contact"
        return redirect(url_for("trial", trial_id=protocol.id, lang=lang, sent=sent,
                                _anchor="contact"), code=303)

    @app.post("/trials/<trial_id>/sign-up")
    def signup(trial_id: str) -> Any:
        protocol = _posted_protocol(trial_id)
        lang = _language(protocol, request.form.get("lang"))
        submitted = read_signup_form(request.form)
        if not limiter.allow(request.remote_addr or "unknown"):
            return _refused(trial_id, lang, "signup", submitted)
        if not submitted.ok:
            return _render_trial(trial_id, lang, signup_form=submitted, status=400)
        assert submitted.email is not None
        words = consent.wording("optin", lang)
        try:
            leads.save_optin(None, protocol.id, submitted.email, words.text, words.version)
        except SQLAlchemyError:
            log.warning("database unreachable: sign-up refused, the patient was asked to retry")
            submitted.errors["form"] = "form_unavailable"
            return _render_trial(trial_id, lang, signup_form=submitted, status=503)
        return redirect(url_for("trial", trial_id=protocol.id, lang=lang, sent="signup",
                                _anchor="notify"), code=303)

    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        """A form posted without this page's token (expired session, or another site): shown
        again with what was typed, and a fresh token, so the patient only sends it again."""
        trial_id = (request.view_args or {}).get("trial_id") or ""
        if not _TRIAL_ID.match(trial_id) or not (trials_dir() / f"{trial_id}.yml").is_file():
            abort(400)
        protocol = get_protocol(trial_id)
        lang = _language(protocol, request.form.get("lang"))
        if request.endpoint == "signup":
            form = read_signup_form(request.form)
            form.errors = {"form": "form_expired"}
            return _render_trial(trial_id, lang, signup_form=form, status=400)
        form = read_contact_form(request.form)
        form.errors = {"form": "form_expired"}
        return _render_trial(trial_id, lang, contact_form=form, status=400)

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
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint not in ("static", "socket_io_client"):
            # A page may hold what a patient typed in a form: never kept by the browser.
            response.headers["Cache-Control"] = "no-store, max-age=0"
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


def _secret_key(path: Path) -> str:
    configured = os.environ.get("SITE_SECRET_KEY", "").strip()
    if configured:
        if len(configured) < 32:
            raise SiteError("SITE_SECRET_KEY must be at least 32 characters long")
        return configured
    return generated_secret(path, "a study page secret key")


def _posted_protocol(trial_id: str) -> Protocol:
    if not _TRIAL_ID.match(trial_id) or not (trials_dir() / f"{trial_id}.yml").is_file():
        abort(404)
    return get_protocol(trial_id)


def _language(protocol: Protocol, wanted: str | None) -> str:
    """The page's language (?lang=zh, or the form's): one of the trial's, else the site's own."""
    offered = page_languages(protocol)
    site = current_app.config["LANGUAGE"]
    if wanted in offered:
        return str(wanted)
    return site if site in offered else (offered[0] if offered else site)


def _refused(trial_id: str, lang: str, which: str, form: Submitted,
             submission: str = "") -> tuple[str, int]:
    form.errors = {"form": "form_too_many"}
    if which == "signup":
        return _render_trial(trial_id, lang, signup_form=form, status=429)
    return _render_trial(trial_id, lang, contact_form=form, submission=submission, status=429)


def error_text(key: str, language: str) -> str:
    """A form problem in words: the chat's own for a field it checks too (``invalid_*``, from
    ``bot/locales``), else the page's (``bot/site/locales``)."""
    return msg(key, language) if key.startswith("invalid_") else text(key, language)


def _render_trial(
    trial_id: str | None,
    lang: str | None = None,
    contact_form: Submitted | None = None,
    signup_form: Submitted | None = None,
    submission: str = "",
    status: int = 200,
) -> Any:
    protocol = get_protocol(trial_id)
    offered = page_languages(protocol)
    lang = _language(protocol, lang or request.args.get("lang"))
    page = trial_page(protocol, lang)
    site_name = protocol.site_name(lang)
    sent = request.args.get("sent") if request.method == "GET" else None
    forms = {
        "contact": contact_form or Submitted({}),
        "signup": signup_form or Submitted({}),
        # One id per form as rendered: the same form sent twice is one lead.
        "submission": submission if re.fullmatch(r"[0-9a-f]{32}", submission or "") else (
            uuid.uuid4().hex),
        "sent": sent if sent in SENT else None,
        "contact_consent": msg("form_contact_consent_ask", lang, site_name=site_name),
        "signup_question": msg("notify_ask", lang),
        "signup_consent": msg("ask_optin_consent", lang),
        "agree": msg("option_agree", lang),
        "contact_sent": msg("lead_confirmation", lang, site_name=site_name),
        "signup_sent": msg("optin_saved", lang),
        "error": lambda key: error_text(key, lang),
    }
    widget = {
        "socketUrl": rasa_url(),
        "socketPath": current_app.config["SOCKET_PATH"],
        "trialId": page.trial_id,
        "initPayload": greeting_payload(page.trial_id, lang),
        "strings": widget_strings(lang),
    }
    switch = [(code, text("language_name", code)) for code in offered]
    html = render_template("trial.html", page=page, widget=widget, t=_words(lang), lang=lang,
                           languages=switch if len(switch) > 1 else [], forms=forms)
    return (html, status) if status != 200 else html
