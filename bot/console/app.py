"""The staff console's Flask application: pages for the queue, transcripts, the funnel and the
audit log, behind a sign-in. ``create_app`` builds it; ``python -m bot console`` serves it."""

from __future__ import annotations

import traceback
from datetime import timedelta
from types import TracebackType

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot.console import formatting
from bot.console.auth import bp as auth_bp
from bot.console.auth import load_signed_in
from bot.console.settings import ConsoleSettings, load_console_settings
from bot.console.views.audit import bp as audit_bp
from bot.console.views.funnel import bp as funnel_bp
from bot.console.views.queue import bp as queue_bp
from bot.console.views.screenings import bp as screenings_bp

SESSION_COOKIE = "prescreen_console"

# No script at all, styles from our own stylesheet only, nothing from anywhere else.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


class ConsoleFlask(Flask):
    def log_exception(
        self,
        exc_info: tuple[type[BaseException], BaseException, TracebackType]
        | tuple[None, None, None],
    ) -> None:
        """Where it failed, without the exception's message: a database error's message carries
        the statement's parameters, which can be a patient's answers or contact details."""
        kind, _error, tb = exc_info
        where = "".join(traceback.format_tb(tb)) if tb else ""
        self.logger.error(
            "%s on %s %s\n%s", kind.__name__ if kind else "error", request.method, request.path,
            where,
        )


def create_app(config: ConsoleSettings | None = None) -> Flask:
    config = config or load_console_settings()
    app = ConsoleFlask(__name__)
    app.config.update(
        CONSOLE=config,
        SECRET_KEY=config.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=config.cookie_secure,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.idle_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        MAX_CONTENT_LENGTH=64 * 1024,
        # A CSRF token is good as long as the session it belongs to.
        WTF_CSRF_TIME_LIMIT=None,
        TEMPLATES_AUTO_RELOAD=False,
    )
    # Sign-in is checked before CSRF, so a request without a session is sent to sign in.
    app.before_request(load_signed_in)
    CSRFProtect(app)
    formatting.register(app)
    for blueprint in (auth_bp, queue_bp, screenings_bp, funnel_bp, audit_bp):
        app.register_blueprint(blueprint)
    app.after_request(_security_headers)
    _error_pages(app)
    return app


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    # Addresses carry record ids and searches: never sent to another site.
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "static":
        # Pages show patient data: never kept by the browser or anything in between.
        headers["Cache-Control"] = "no-store, max-age=0"
        headers["Pragma"] = "no-cache"
    return response


def _error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        return render_template(
            "error.html", title="This form has expired",
            message="Go back, reload the page and try again.",
        ), 400

    @app.errorhandler(403)
    def forbidden(_error: Exception) -> tuple[str, int]:
        return render_template(
            "error.html", title="Not for your role",
            message="This page or change is for study coordinators.",
        ), 403

    @app.errorhandler(404)
    def not_found(_error: Exception) -> tuple[str, int]:
        return render_template(
            "error.html", title="Not found", message="There is nothing at this address.",
        ), 404
