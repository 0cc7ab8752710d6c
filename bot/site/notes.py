"""The study page's private notes, and the passcode-protected link that shares them.

A reader's notes are made and kept in their browser (``static/notes.js``, ``localStorage``); the
server sees nothing of them until the reader shares. Then:

* ``GET /notes/form-token``: a CSRF token for the share dialog (Flask-WTF, bound to a session
  cookie that only this step sets: a visitor who never shares gets no cookie);
* ``POST /notes``: the notes (JSON, capped in count and size) and a passcode, with the token in
  ``X-CSRFToken``; rate limited per address; answered with the link's path and its expiry;
* ``GET /notes/<token>``: asks for the passcode (or says the link is unknown, 404, expired, 410,
  or locked, 403); ``POST`` with the passcode shows the notes, escaped, or refuses (403) and
  counts the try (:mod:`bot.notes_store` locks the share after five).

The rate limits are :mod:`bot.ratelimit`'s, the channels' own: in this process, or in Redis when
``REDIS_URL`` is set (the cluster), so that site replicas count an address together.
Nothing of a note, a passcode or a token is logged: an unexpected error is logged by its type and
stack only (:func:`bot.logs.private_traceback`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError

from bot import notes_store
from bot.logs import private_traceback
from bot.notes_store import NotesError, Outcome
from bot.ratelimit import Limiter, rate_limiter
from bot.settings import load_settings
from bot.site.content import LOCALES_DIR, text

log = logging.getLogger(__name__)

bp = Blueprint("notes", __name__)

MAX_BODY_BYTES = 256 * 1024
SHARES_PER_HOUR = 10  # links made from one address
PASSCODE_TRIES_PER_10_MIN = 30  # passcodes tried from one address, on any link
STATUS = {
    Outcome.READY: 200, Outcome.SHOWN: 200, Outcome.WRONG: 403, Outcome.LOCKED: 403,
    Outcome.BUSY: 429, Outcome.EXPIRED: 410, Outcome.UNKNOWN: 404,
}


def init_app(app: Flask) -> None:
    """Add the notes to the study page's app: the routes and the rate limits. The session
    cookie (its name, flags and key) is the page's own, set up by ``create_app`` for its forms;
    an app without a key gets one on the first request that needs it (:func:`_secret_key`)."""
    load_settings()
    notes_store.share_hours()  # a wrong NOTES_SHARE_HOURS fails the start, not the first share
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        # The page's CSRFProtect reads every post's form before any view, under the page's
        # small body limit; these views check the same token themselves (validate_csrf), after
        # raising the limit for a share of notes.
        csrf.exempt(bp)
    app.extensions["notes_limits"] = {
        "share": rate_limiter(SHARES_PER_HOUR, 3600, "notes_share"),
        "passcode": rate_limiter(PASSCODE_TRIES_PER_10_MIN, 600, "notes_passcode"),
    }
    app.register_blueprint(bp)
    app.add_template_global(notes_config, "notes_config")


def _limit(kind: str) -> Limiter:
    return current_app.extensions["notes_limits"][kind]


def _address() -> str:
    return request.remote_addr or "unknown"


def _languages() -> list[str]:
    return sorted(p.stem for p in LOCALES_DIR.glob("*.yml"))


def _when(value: datetime | None) -> str:
    """A time in UTC, the same way in every language: 2026-12-04 15:00."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def notes_config(trial_id: str, language: str) -> dict[str, Any]:
    """The notes script's settings and words, for the study page (``_notes.html``, as JSON)."""
    keys = [
        "notes_add_floating", "notes_select_first", "notes_selection_too_long", "notes_empty",
        "notes_quote_label", "notes_no_quote", "notes_remove", "notes_remove_label",
        "notes_removed", "notes_saved", "notes_limit_reached", "notes_storage_unavailable",
        "notes_note_empty", "notes_too_long", "notes_passcode_short", "notes_passcode_long",
        "notes_passcode_mismatch", "notes_share_sending", "notes_share_failed", "notes_copied",
        "notes_copy_failed", "notes_form_expired", "notes_rate_limited", "notes_count",
    ]
    return {
        "trialId": trial_id,
        "language": language,
        "storageKey": f"prescreen-notes:{trial_id}",
        "tokenUrl": "/notes/form-token",
        "shareUrl": "/notes",
        "hours": notes_store.share_hours(),
        "limits": {
            "notes": notes_store.MAX_NOTES,
            "quote": notes_store.MAX_QUOTE_CHARS,
            "note": notes_store.MAX_NOTE_CHARS,
            "total": notes_store.MAX_TOTAL_CHARS,
            "passcodeMin": notes_store.MIN_PASSCODE_CHARS,
            "passcodeMax": notes_store.MAX_PASSCODE_CHARS,
        },
        "strings": {key.removeprefix("notes_"): _raw(key, language) for key in keys},
    }


def _raw(key: str, language: str) -> str:
    """A string with its {placeholders} left for the script to fill."""
    from bot.site.content import _catalogue

    return _catalogue(language).get(key) or _catalogue("en")[key]


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.before_request
def _room_for_notes() -> None:
    """The page's forms are capped at a few KB; a share of notes may need more (still capped)."""
    request.max_content_length = MAX_BODY_BYTES


@bp.after_request
def _private(response: Response) -> Response:
    return _no_store(response)


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Any:
    """Where it failed, never the exception's message (it can carry what a reader wrote)."""
    if isinstance(error, HTTPException):
        return error
    log.error("%s on %s %s\n%s", type(error).__name__, request.method, request.url_rule,
              private_traceback(error))
    if request.method == "POST" and request.path == "/notes":
        return _json_error("notes_share_failed", 500, _language_of(request.args.get("lang")))
    return "", 500


def _language_of(wanted: str | None, fallback: str | None = None) -> str:
    offered = _languages()
    for choice in (wanted, fallback, current_app.config.get("LANGUAGE")):
        if choice in offered:
            return str(choice)
    return "en"


def _json_error(key: str, status: int, language: str, **values: Any) -> tuple[Response, int]:
    return jsonify({"error": text(key, language, **values), "code": key}), status


@bp.get("/notes/form-token")
def form_token() -> Response:
    return jsonify({"token": generate_csrf()})


@bp.post("/notes")
def share() -> Any:
    body = request.get_json(silent=True) if _small_json() else None
    language = _language_of(body.get("language") if isinstance(body, dict) else None)
    if request.content_length is None or request.content_length > MAX_BODY_BYTES:
        return _json_error("notes_too_much", 413, language)
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        return _json_error("notes_form_expired", 400, language)
    verdict = _limit("share").check(_address())
    if not verdict.allowed:
        response, status = _json_error("notes_rate_limited", 429, language)
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response, status
    if not isinstance(body, dict):
        return _json_error("notes_share_failed", 400, language)
    trial_id = str(body.get("trial") or "")
    if not notes_store.TRIAL_PATTERN.match(trial_id):
        return _json_error("notes_share_failed", 400, language)
    try:
        made = notes_store.create_share(body.get("notes"), body.get("passcode"), trial_id,
                                        language)
    except NotesError as refused:
        return _json_error(refused.key, 400, language, **refused.values)
    hours = notes_store.share_hours()
    return jsonify({
        "path": f"/notes/{made.token}",
        "expires": made.expires_at.isoformat(),
        "message": text("notes_share_done", language, when=_when(made.expires_at),
                        hours=hours),
    }), 201


def _small_json() -> bool:
    return (request.mimetype == "application/json" and request.content_length is not None
            and request.content_length <= MAX_BODY_BYTES)


@bp.route("/notes/<token>", methods=["GET", "POST"])
def show(token: str) -> Any:
    wanted = request.args.get("lang")
    if request.method == "GET":
        opened = notes_store.look_up(token)
        return _page(token, opened, _language_of(wanted, opened.language))
    language = _language_of(wanted)
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return _page(token, notes_store.look_up(token), language, problem="notes_form_expired",
                     status=400)
    verdict = _limit("passcode").check(_address())
    if not verdict.allowed:
        response = Response(_render(token, notes_store.look_up(token), language,
                                    problem="notes_page_rate_limited"), status=429)
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    opened = notes_store.open_share(token, request.form.get("passcode", ""))
    problem = {Outcome.WRONG: "notes_page_wrong", Outcome.BUSY: "notes_page_busy"}.get(
        opened.outcome)
    return _page(token, opened, _language_of(wanted, opened.language), problem=problem)


def _page(token: str, opened: notes_store.Opened, language: str, problem: str | None = None,
          status: int | None = None) -> tuple[str, int]:
    return (_render(token, opened, language, problem),
            status or STATUS[opened.outcome])


def _render(token: str, opened: notes_store.Opened, language: str,
            problem: str | None = None) -> str:
    def words(key: str, **values: Any) -> str:
        return text(key, language, **values)

    # A refused passcode (or a form to send again) shows the form again, with why.
    asking = opened.outcome in (Outcome.READY, Outcome.WRONG, Outcome.BUSY)
    state = "ready" if asking else opened.outcome.value
    trial = opened.trial_id or current_app.config.get("TRIAL_ID") or ""
    switch = [(code, text("language_name", code)) for code in _languages()]
    return render_template(
        "notes_share.html", t=words, lang=language, state=state, problem=problem,
        opened=opened, token=token, csrf_token=generate_csrf() if state == "ready" else "",
        expires=_when(opened.expires_at), trial_id=trial,
        languages=switch if len(switch) > 1 else [],
        min_passcode=notes_store.MIN_PASSCODE_CHARS,
    )
