"""Signing in: argon2 hashes, secure cookies, CSRF, idle timeout, sign-out for good, throttling,
and every page refused without a session."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.console import accounts
from bot.console.audit import Action
from bot.console.models import AuditEvent, SignInThrottle, StaffSession, StaffUser
from bot.console.settings import load_console_settings, persisted_secret_key
from bot.db import session_scope
from bot.models import utcnow
from bot.settings import PROJECT_ROOT
from tests.console.support import (
    COORDINATOR,
    MONITOR,
    PASSWORD,
    add_lead,
    add_screening,
    csrf_token,
    post_form,
    sign_in,
)


def audit_actions() -> list[str]:
    with session_scope() as session:
        return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_staff_added_on_the_command_line_get_an_argon2_hash_and_are_listed(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    added = subprocess.run(
        [sys.executable, "-m", "bot", "staff", "add", "--email", "Ana@Site.example",
         "--name", "Ana Li", "--role", "coordinator", "--password-stdin"],
        input="a long enough passphrase\n", capture_output=True, text=True, cwd=PROJECT_ROOT,
        env=env, check=True,
    )
    assert "added ana@site.example (coordinator)" in added.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "bot", "staff", "list"], capture_output=True, text=True,
        cwd=PROJECT_ROOT, env=env, check=True,
    )
    assert "ana@site.example" in listed.stdout and "never" in listed.stdout
    with session_scope() as session:
        user = session.execute(select(StaffUser)).scalar_one()
        assert user.password_hash.startswith("$argon2id$")
        assert "a long enough passphrase" not in user.password_hash
    assert audit_actions() == [Action.STAFF_ADDED]


def test_a_forgotten_password_is_reset_on_the_command_line_and_old_sessions_end(
    app, coordinator, database_url
):
    env = {**os.environ, "DATABASE_URL": database_url}
    reset = subprocess.run(
        [sys.executable, "-m", "bot", "staff", "password", "--email", COORDINATOR,
         "--password-stdin"],
        input="a brand new passphrase\n", capture_output=True, text=True, cwd=PROJECT_ROOT,
        env=env, check=True,
    )
    assert "new password set" in reset.stdout
    assert coordinator.get("/queue").status_code == 302  # the old session has ended
    assert sign_in(app.test_client(), COORDINATOR).status_code == 401  # the old password fails
    assert sign_in(app.test_client(), COORDINATOR, "a brand new passphrase").status_code == 302
    assert Action.PASSWORD_RESET in audit_actions()


def test_a_reset_password_must_follow_the_rules_and_name_an_account(staff):
    with pytest.raises(accounts.AccountError, match="12 characters"):
        accounts.set_password(COORDINATOR, "short")
    with pytest.raises(accounts.AccountError, match="no account"):
        accounts.set_password("nobody@site.example", "a long enough passphrase")


def test_a_disabled_account_can_be_enabled_again(app, staff):
    accounts.set_active(COORDINATOR, False)
    assert sign_in(app.test_client(), COORDINATOR).status_code == 401
    accounts.set_active(COORDINATOR, True)
    assert sign_in(app.test_client(), COORDINATOR).status_code == 302


def test_a_short_password_or_an_unknown_role_is_refused(database_url):
    with pytest.raises(accounts.AccountError, match="12 characters"):
        accounts.add_staff("x@site.example", "X", "coordinator", "short")
    with pytest.raises(accounts.AccountError, match="role"):
        accounts.add_staff("x@site.example", "X", "admin", PASSWORD)
    accounts.add_staff("x@site.example", "X", "monitor", PASSWORD)
    with pytest.raises(accounts.AccountError, match="already"):
        accounts.add_staff("X@site.example", "X", "monitor", PASSWORD)


def test_signing_in_sets_a_secure_http_only_cookie_and_is_audited(app, staff):
    client = app.test_client()
    response = sign_in(client, COORDINATOR, next="/funnel")
    assert response.status_code == 302 and response.headers["Location"] == "/funnel"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # the cookie lasts no longer than the idle timeout
    page = client.get("/queue").get_data(as_text=True)
    assert "Cora Coordinator" in page and "Sign out" in page
    assert Action.SIGN_IN in audit_actions()


def test_a_wrong_password_says_so_without_telling_which_part_was_wrong(app, staff):
    client = app.test_client()
    wrong = sign_in(client, COORDINATOR, "not the password")
    unknown = sign_in(client, "nobody@site.example", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The email or the password is wrong." in response.get_data(as_text=True)
    assert client.get("/queue").status_code == 302
    assert audit_actions() == [Action.SIGN_IN_FAILED, Action.SIGN_IN_FAILED]


def test_an_open_redirect_after_sign_in_is_not_followed(app, staff):
    client = app.test_client()
    response = sign_in(client, COORDINATOR, next="https://evil.example/")
    assert response.headers["Location"] == "/queue"


def test_forms_without_a_valid_csrf_token_are_refused(app, staff):
    client = app.test_client()
    response = client.post("/sign-in", data={"email": COORDINATOR, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    sign_in(client, COORDINATOR)
    lead = add_lead(add_screening("p1"))
    forged = client.post(f"/leads/{lead}/status", data={"status": "enrolled",
                                                         "csrf_token": "forged"})
    assert forged.status_code == 400
    ok = post_form(client, "/queue", f"/leads/{lead}/status", {"status": "contacted"})
    assert ok.status_code == 302


def test_five_failures_lock_the_account_with_a_growing_wait(app, staff):
    client = app.test_client()
    for _ in range(4):
        assert sign_in(client, COORDINATOR, "wrong password!").status_code == 401
    locked = sign_in(client, COORDINATOR, "wrong password!")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    # Even the right password is refused while the lock lasts, and it is not checked.
    refused = sign_in(client, COORDINATOR, PASSWORD)
    assert refused.status_code == 429 and "wait 30 seconds" in refused.get_data(as_text=True)
    # The lock is in the database: a second console process enforces it too.
    with session_scope() as session:
        row = session.get(SignInThrottle, f"account:{COORDINATOR}")
        assert row.failures == 5
        # Time passes; the next failure locks for twice as long.
        row.locked_until = utcnow() - timedelta(seconds=1)
    assert "wait 1 min 0 s" in sign_in(client, COORDINATOR, "wrong again!!!").get_data(
        as_text=True
    )
    # Another account from the same address is not locked (the per-address limit is higher).
    assert sign_in(app.test_client(), MONITOR).status_code == 302
    assert Action.SIGN_IN_REFUSED in audit_actions()


def test_many_failures_from_one_address_lock_that_address(app, staff):
    client = app.test_client()
    for i in range(20):
        sign_in(client, f"guess{i}@site.example", "wrong password!")
    response = sign_in(client, MONITOR)
    assert response.status_code == 429


def test_a_success_clears_the_account_count(app, staff):
    client = app.test_client()
    for _ in range(3):
        sign_in(client, COORDINATOR, "wrong password!")
    assert sign_in(client, COORDINATOR).status_code == 302
    with session_scope() as session:
        assert session.get(SignInThrottle, f"account:{COORDINATOR}") is None


def test_an_idle_session_ends_and_says_why(app, coordinator):
    assert coordinator.get("/queue").status_code == 200
    with session_scope() as session:
        session.execute(update(StaffSession).values(
            last_seen_at=utcnow() - timedelta(minutes=31)))
    response = coordinator.get("/queue")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    page = coordinator.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    with session_scope() as session:
        assert session.execute(select(StaffSession)).first() is None
    assert Action.SESSION_EXPIRED in audit_actions()


def test_signing_out_ends_the_session_even_for_a_copied_cookie(app, coordinator):
    stolen = coordinator.get_cookie("prescreen_console").value
    page = coordinator.get("/queue").get_data(as_text=True)
    response = coordinator.post("/sign-out", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    replay = app.test_client()
    replay.set_cookie("prescreen_console", stolen)
    assert replay.get("/queue").status_code == 302
    assert Action.SIGN_OUT in audit_actions()


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(app, coordinator):
    accounts.set_active(COORDINATOR, False)
    assert coordinator.get("/queue").status_code == 302
    assert sign_in(app.test_client(), COORDINATOR).status_code == 401


PAGES = ["/", "/queue", "/queue.csv", "/leads/abc", "/screenings", "/screenings/abc",
         "/funnel", "/audit", "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_a_session_sends_to_sign_in(app, staff, path):
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize("path", ["/leads/abc/status", "/leads/abc/notes", "/leads/abc/assign",
                                  "/sign-out"])
def test_every_change_without_a_session_sends_to_sign_in(app, staff, path):
    response = app.test_client().post(path, data={"status": "enrolled", "note": "x"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_pages_forbid_framing_inline_script_and_caching(coordinator):
    response = coordinator.get("/queue")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"].startswith("no-store")
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script" not in response.get_data(as_text=True)


def test_the_stylesheet_is_served_by_the_console_itself(app):
    response = app.test_client().get("/static/console.css")
    assert response.status_code == 200 and b".chat" in response.data


def test_without_a_secret_key_one_is_generated_once_and_kept_private(tmp_path, monkeypatch,
                                                                      caplog):
    monkeypatch.delenv("CONSOLE_SECRET_KEY", raising=False)
    key_file = tmp_path / "var" / "console-secret-key"
    first = load_console_settings(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "CONSOLE_SECRET_KEY is not set" in caplog.text
    assert load_console_settings(key_file).secret_key == first.secret_key
    assert len(first.secret_key) >= 64
    key_file.chmod(0o644)
    assert persisted_secret_key(key_file) == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_short_secret_key_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("CONSOLE_SECRET_KEY", "too-short")
    with pytest.raises(RuntimeError, match="at least 32"):
        load_console_settings(tmp_path / "key")
