"""Signing in and out, and who is signed in on each request.

The signed session cookie carries a random token; the server keeps the token's hash with the time
it was last used, so a session ends for good on sign-out, after ``idle_minutes`` without a request,
or ``max_session_hours`` after sign-in, whatever the browser still holds. Every page but the
sign-in form needs a session; requests without one are sent to sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from bot.console import audit, throttle
from bot.console.accounts import find_staff, normalise_email, verify_password
from bot.console.audit import Action
from bot.console.models import Role, StaffSession
from bot.console.settings import ConsoleSettings
from bot.db import session_scope
from bot.models import utcnow

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = frozenset({"auth.sign_in", "static"})
# last_seen_at is written at most this often, not on every request.
_TOUCH_EVERY = timedelta(seconds=15)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind the current request."""

    id: int
    email: str
    name: str
    role: str

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def sees_contact_details(self) -> bool:
        return self.is_coordinator

    @property
    def can_change_leads(self) -> bool:
        return self.is_coordinator


def current() -> SignedIn:
    return cast(SignedIn, g.staff)


def settings() -> ConsoleSettings:
    return cast(ConsoleSettings, current_app.config["CONSOLE"])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def client_ip() -> str | None:
    # The console listens on localhost only and trusts no forwarding header.
    return request.remote_addr


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def audit_here(
    action: str, target: str | None = None, detail: str | None = None, db: Any = None
) -> None:
    """An audit entry for the signed-in staff member."""
    staff = current()
    audit.record(action, staff.email, staff.role, target, detail, client_ip(), session=db)


def coordinator_only(view: F) -> F:
    """Pages and changes a monitor may not use."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current().is_coordinator:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def load_signed_in() -> ResponseReturnValue | None:
    """Before every request: find the session, or send the browser to sign in."""
    g.staff = None
    token = session.get("sid")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not token:
        return _to_sign_in()
    config = settings()
    now = utcnow()
    with session_scope() as db:
        row = db.get(StaffSession, _hash(token))
        if row is None or not row.staff.active:
            session.clear()
            return _to_sign_in()
        idle = now - _aware(row.last_seen_at) > timedelta(minutes=config.idle_minutes)
        too_old = now - _aware(row.created_at) > timedelta(hours=config.max_session_hours)
        if idle or too_old:
            audit.record(
                Action.SESSION_EXPIRED, row.staff.email, row.staff.role, ip=client_ip(),
                detail="idle" if idle else "maximum length", session=db,
            )
            db.delete(row)
            session.clear()
            flash(
                f"You were signed out after {config.idle_minutes} minutes without activity."
                if idle else "Your session reached its maximum length. Please sign in again.",
                "info",
            )
            return _to_sign_in()
        if now - _aware(row.last_seen_at) > _TOUCH_EVERY:
            row.last_seen_at = now
        staff = row.staff
        g.staff = SignedIn(staff.id, staff.email, staff.name, staff.role)
    return None


def _to_sign_in() -> ResponseReturnValue:
    target = request.full_path if request.method == "GET" else None
    if target and target.endswith("?"):
        target = target[:-1]
    return redirect(url_for("auth.sign_in", next=target))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next"), url_for("queue.queue"))
    if request.method == "GET":
        return render_template("sign_in.html", next_url=next_url)
    email = normalise_email(request.form.get("email", ""))[:255]
    password = request.form.get("password", "")
    ip = client_ip()
    with session_scope() as db:
        wait = throttle.locked_for(db, email, ip)
        if wait:
            audit.record(Action.SIGN_IN_REFUSED, email, ip=ip, session=db)
            return _refused(wait, next_url, email)
        user = verify_password(db, email, password) if email and password else None
        if user is None:
            wait = throttle.record_failure(db, email, ip)
            known = find_staff(db, email)
            audit.record(Action.SIGN_IN_FAILED, email, known.role if known else None, ip=ip,
                         detail=None if known else "unknown account", session=db)
            if wait:
                return _refused(wait, next_url, email)
            return render_template(
                "sign_in.html", next_url=next_url, email=email,
                error="The email or the password is wrong.",
            ), 401
        throttle.record_success(db, email)
        token = secrets.token_urlsafe(32)
        db.add(StaffSession(token_hash=_hash(token), staff_id=user.id))
        user.last_sign_in_at = utcnow()
        audit.record(Action.SIGN_IN, user.email, user.role, ip=ip, session=db)
    # A new session from scratch: nothing from before sign-in carries over (no fixation).
    session.clear()
    session.permanent = True
    session["sid"] = token
    return redirect(next_url)


def _refused(wait: int, next_url: str, email: str) -> ResponseReturnValue:
    minutes, seconds = divmod(wait, 60)
    when = f"{minutes} min {seconds} s" if minutes else f"{seconds} seconds"
    return render_template(
        "sign_in.html", next_url=next_url, email=email,
        error=f"Too many failed sign-ins. For your patients' safety, wait {when} and try again.",
    ), 429


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> ResponseReturnValue:
    token = session.get("sid")
    if token:
        with session_scope() as db:
            row = db.get(StaffSession, _hash(token))
            if row is not None:
                db.delete(row)
            audit_here(Action.SIGN_OUT, db=db)
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
