"""``SITE_SECRET_KEY`` signs the study page's session cookie, which carries the forms' CSRF
token: two site processes with the same key (replicas behind a load balancer) accept each
other's forms, a process with another key refuses them; a short key fails the start; without
one, a key is generated once into the key file (0600) and kept."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from bot.site.app import SiteError, create_app

TRIAL = "NCT06675422"


@pytest.fixture()
def vendor(tmp_path: Path) -> Path:
    (tmp_path / "socket.io.min.js").write_text("/* socket.io client */")
    return tmp_path


def _app(vendor: Path, tmp_path: Path):
    return create_app({"VENDOR_DIR": vendor, "SECRET_FILE": tmp_path / "var" / "site-key"})


def _sign_up_elsewhere(source, target) -> int:
    """A sign-up whose page (cookie and token) came from ``source``, posted to ``target``."""
    html = source.get(f"/trials/{TRIAL}").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    cookie = source.get_cookie("prescreen_site")
    assert cookie is not None
    target.set_cookie("prescreen_site", cookie.value)
    # An address the sign-up refuses (400 with the field named) passed the CSRF check; a
    # refused token is 400 too, with the form's "expired" words.
    response = target.post(f"/trials/{TRIAL}/sign-up",
                           data={"csrf_token": found.group(1), "lang": "en", "email": "x"})
    page = response.get_data(as_text=True)
    return 419 if "This form had expired" in page else response.status_code


def test_replicas_with_one_key_accept_each_others_forms_and_another_key_refuses(
    vendor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SITE_SECRET_KEY", "a" * 40)
    first, second = (_app(vendor, tmp_path).test_client() for _ in range(2))
    assert _sign_up_elsewhere(first, second) == 400  # past the token: the email is named
    monkeypatch.setenv("SITE_SECRET_KEY", "b" * 40)
    other = _app(vendor, tmp_path).test_client()
    assert _sign_up_elsewhere(first, other) == 419  # the cookie's signature is not its key's
    assert not (tmp_path / "var" / "site-key").exists()  # a configured key writes no file


def test_a_short_key_fails_the_start_and_a_missing_one_is_generated_once(
    vendor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    monkeypatch.setenv("SITE_SECRET_KEY", "short")
    with pytest.raises(SiteError, match="at least 32 characters"):
        _app(vendor, tmp_path)
    monkeypatch.delenv("SITE_SECRET_KEY")
    first = _app(vendor, tmp_path).config["SECRET_KEY"]
    key_file = tmp_path / "var" / "site-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(first) == 64
    assert _app(vendor, tmp_path).config["SECRET_KEY"] == first
