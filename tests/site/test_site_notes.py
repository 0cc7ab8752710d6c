"""The study page's private notes and their passcode-protected link, through the site's Flask app
and a real store: what the page carries for the notes script, the share (CSRF, caps, the rate
limit per address), the link's page (passcode asked, refused and counted, notes shown escaped;
unknown 404, expired 410, locked 403), the words in English and Chinese, and no note in any log.

The browser side (selecting, the dialogs, localStorage) is tests/e2e/test_site_notes_browser.py.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import crypto, notes_store
from bot.db import dispose_all, session_scope
from bot.models import NoteShare, utcnow
from bot.ratelimit import RateLimiter
from bot.site.app import create_app
from bot.site.content import text
from tests.site.test_site_page import Elements

TRIAL = "NCT06675422"
PASSCODE = "heron-and-pine-7"


@pytest.fixture()
def vendor(tmp_path: Path) -> Path:
    (tmp_path / "socket.io.min.js").write_text("/* socket.io client */")
    return tmp_path


@pytest.fixture()
def app(vendor: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "unused-key-file"))
    monkeypatch.delenv("NOTES_SHARE_HOURS", raising=False)
    crypto.forget_keys()
    yield create_app({"VENDOR_DIR": vendor})
    crypto.forget_keys()


@pytest.fixture()
def client(app):
    return app.test_client()


def form_token(client) -> str:
    response = client.get("/notes/form-token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("no-store")
    return response.get_json()["token"]


def share(client, notes, passcode: str = PASSCODE, language: str = "en", address: str = "",
          token: str | None = None):
    body = {"trial": TRIAL, "language": language, "passcode": passcode, "notes": notes}
    headers = {"X-CSRFToken": form_token(client) if token is None else token}
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post("/notes", json=body, headers=headers, environ_base=environ)


def link_page(client, path: str, passcode: str | None = None, lang: str = ""):
    """The link's page; with ``passcode``, the page's own form sent with it."""
    url = path + (f"?lang={lang}" if lang else "")
    page = client.get(url)
    if passcode is None:
        return page
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return client.post(url, data={"csrf_token": found.group(1), "passcode": passcode})


def words_of(response) -> str:
    parsed = Elements()
    parsed.feed(response.get_data(as_text=True))
    return " ".join(parsed.text)


def notes_made(mark: str) -> list[dict[str, str]]:
    return [
        {"quote": "Adults aged 18 to 75 years with active lupus",
         "note": f"I am 46, ask about my prednisone dose {mark}"},
        {"quote": "", "note": f"<script>alert('{mark}')</script> & <b>bold</b>"},
    ]


def test_the_page_carries_the_notes_section_its_dialogs_and_settings(client):
    parsed = Elements()
    parsed.feed(client.get("/").get_data(as_text=True))
    (section,) = parsed.find("section", id="notes")
    assert "hidden" in section and section["aria-labelledby"] == "notes-heading"
    assert parsed.find("button", type="button", data_notes_add="")
    assert parsed.find("button", type="button", data_notes_float="")
    assert parsed.find("p", role="status", data_notes_status="")
    assert len(parsed.find("dialog")) == 2
    for field in ("note-text", "share-passcode", "share-passcode-again", "share-link"):
        assert parsed.find("label", for_=field), field
    (passcode,) = parsed.find("input", id="share-passcode")
    assert (passcode["type"], passcode["minlength"], passcode["autocomplete"]) == (
        "password", "8", "new-password")
    # The minimum length is said on screen, and how long a link works.
    page_text = " ".join(parsed.text)
    assert "At least 8 characters." in page_text and "for 72 hours" in page_text
    # The scope a reader may select in: the trial's header and details, never the chat.
    assert parsed.find("header", data_notes_scope="") and parsed.find("main", data_notes_scope="")
    assert not parsed.find("section", id="chat", data_notes_scope="")
    config = json.loads(parsed.scripts["notes-config"])
    assert config["trialId"] == TRIAL and config["storageKey"] == f"prescreen-notes:{TRIAL}"
    assert config["limits"] == {"notes": 50, "quote": 500, "note": 2000, "total": 50_000,
                                "passcodeMin": 8, "passcodeMax": 128}
    assert config["strings"]["passcode_short"] == (
        "The passcode needs at least {min} characters.")
    sources = [a["src"] for a in parsed.find("script") if "src" in a]
    assert "/static/notes.js" in sources
    assert "/static/notes.css" in [a["href"] for a in parsed.find("link")]
    for asset in ("/static/notes.js", "/static/notes.css"):
        assert client.get(asset).status_code == 200


def test_the_chinese_page_has_the_notes_in_chinese(client):
    parsed = Elements()
    parsed.feed(client.get("/?lang=zh").get_data(as_text=True))
    page_text = " ".join(parsed.text)
    assert "我的笔记" in page_text and "至少 8 个字符" in page_text
    config = json.loads(parsed.scripts["notes-config"])
    assert config["language"] == "zh"
    assert config["strings"]["saved"] == "您的笔记已保存在这个浏览器中。"


def test_shared_notes_open_with_the_right_passcode_only_and_are_shown_escaped(client):
    mark = uuid.uuid4().hex[:10]
    made = share(client, notes_made(mark))
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert re.fullmatch(r"/notes/[A-Za-z0-9_-]{43}", body["path"])
    assert body["message"].startswith("Your link is ready. It works until ")

    other = client.application.test_client()  # the person the link was sent to
    asked = link_page(other, body["path"])
    assert asked.status_code == 200
    assert asked.headers["Cache-Control"].startswith("no-store")
    assert "Enter the passcode they gave you" in words_of(asked)
    assert mark not in asked.get_data(as_text=True)

    refused = link_page(other, body["path"], "heron-and-pine-8")
    assert refused.status_code == 403
    assert "That passcode is not right. Wrong tries left before the link locks: 4." in words_of(
        refused)
    assert mark not in refused.get_data(as_text=True)

    shown = link_page(other, body["path"], PASSCODE)
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert f"ask about my prednisone dose {mark}" in html
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert f"&lt;script&gt;alert(&#39;{mark}&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold" in html
    assert "Adults aged 18 to 75 years with active lupus" in unescape(html)
    assert "not by the study team" in words_of(shown)


def test_a_share_needs_the_forms_token(client):
    refused = share(client, notes_made("csrf"), token="")
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "This form has expired. Reload the page and try again."
    forged = share(client, notes_made("csrf"), token="forged." + "x" * 40)
    assert forged.status_code == 400
    made = share(client, notes_made("ok")).get_json()
    # The link's passcode form too.
    refused = client.post(made["path"], data={"passcode": PASSCODE})
    assert refused.status_code == 400
    assert "This form has expired" in words_of(refused)
    with session_scope() as session:
        assert session.execute(select(NoteShare.wrong_passcodes)).scalar_one() == 0


def test_unknown_expired_and_locked_links_say_so(client):
    assert link_page(client, "/notes/" + "A" * 43).status_code == 404
    assert "There are no notes at this address" in words_of(link_page(client, "/notes/nothing"))

    old = notes_store.create_share(notes_made("old"), PASSCODE, TRIAL, "en",
                                   now=utcnow() - timedelta(hours=73))
    expired = link_page(client, f"/notes/{old.token}")
    assert expired.status_code == 410 and "This link has expired" in words_of(expired)
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(NoteShare)).scalar_one() == 0
    assert link_page(client, f"/notes/{old.token}").status_code == 404

    path = share(client, notes_made("lock")).get_json()["path"]
    statuses = [link_page(client, path, f"wrong-passcode-{i}").status_code for i in range(4)]
    assert statuses == [403] * 4
    last = link_page(client, path, "wrong-passcode-4")
    assert last.status_code == 403 and "This link is locked" in words_of(last)
    locked = link_page(client, path)
    assert locked.status_code == 403 and "This link is locked" in words_of(locked)
    assert 'name="passcode"' not in locked.get_data(as_text=True)
    # The right passcode, sent with a form token this session got earlier, is refused too.
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      link_page(client, share(client, notes_made("x")).get_json()["path"])
                      .get_data(as_text=True)).group(1)
    late = client.post(path, data={"csrf_token": token, "passcode": PASSCODE})
    assert late.status_code == 403 and "notes_made" not in late.get_data(as_text=True)
    assert "This link is locked" in words_of(late)


def test_the_link_page_speaks_the_sharers_language_or_the_one_asked_for(client):
    path = share(client, notes_made("zh"), language="zh").get_json()["path"]
    assert "分享给您的笔记" in words_of(link_page(client, path))
    assert "Notes shared with you" in words_of(link_page(client, path, lang="en"))
    wrong = link_page(client, path, "wrong-passcode", lang="zh")
    assert "密码不正确。链接锁定前还可以输错 4 次。" in words_of(wrong)
    refused = share(client, [{"quote": "", "note": "x"}] * 51, language="zh")
    assert refused.status_code == 400 and refused.get_json()["error"] == "一次最多分享 50 条笔记。"


def test_shares_are_capped_in_count_and_size(client):
    cases = [
        ([{"quote": "", "note": "n"}] * 51, "You can share at most 50 notes at once."),
        ([{"quote": "", "note": "n" * 2001}], "A note can have at most 2000 characters."),
        ([{"quote": "q" * 500, "note": "n" * 2000}] * 21,
         "These notes are too long to share together. Share fewer at a time."),
        ([], "There are no notes to share."),
    ]
    for notes, message in cases:
        refused = share(client, notes)
        assert (refused.status_code, refused.get_json()["error"]) == (400, message)
    short = share(client, notes_made("p"), passcode="1234567")
    assert short.get_json()["error"] == "The passcode needs at least 8 characters."
    huge = client.post("/notes", data=b"x" * (300 * 1024), content_type="application/json",
                       headers={"X-CSRFToken": form_token(client)})
    assert huge.status_code == 413
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(NoteShare)).scalar_one() == 0


def test_links_are_rate_limited_per_address(client):
    made = [share(client, notes_made(f"r{i}"), address="203.0.113.7") for i in range(11)]
    assert [r.status_code for r in made] == [201] * 10 + [429]
    assert int(made[-1].headers["Retry-After"]) > 0
    assert made[-1].get_json()["error"].startswith("Too many links were made")
    assert share(client, notes_made("elsewhere"), address="203.0.113.8").status_code == 201


def test_the_rate_limiter_refills_over_its_window():
    now = [0.0]
    limiter = RateLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 20 and limiter.allow("b")
    now[0] = 20.0
    assert limiter.allow("a") and not limiter.allow("a")


def test_nothing_of_a_note_or_a_passcode_is_logged_even_when_the_store_fails(
    client, caplog, database_url, monkeypatch, tmp_path
):
    mark = uuid.uuid4().hex[:12]
    secret_passcode = f"passcode-{mark}"
    caplog.set_level(logging.DEBUG)
    path = share(client, notes_made(mark), passcode=secret_passcode).get_json()["path"]
    link_page(client, path, "wrong-passcode")
    link_page(client, path, secret_passcode)
    # A store without the notes' table (never migrated): the share fails, and the error's log
    # line has its type and stack, never the statement's values.
    dispose_all()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    failed = share(client, notes_made(mark), passcode=secret_passcode)
    assert failed.status_code == 500
    assert failed.get_json()["error"] == text("notes_share_failed", "en")
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "OperationalError" in logged  # the failure is logged
    for secret in (mark, secret_passcode, path.rsplit("/", 1)[1]):
        assert secret not in logged


def test_passcode_tries_are_rate_limited_per_address_on_any_link(client):
    path = share(client, notes_made("tries")).get_json()["path"]
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      link_page(client, path).get_data(as_text=True)).group(1)
    guesses = [client.post(f"/notes/{'B' * 42}{i % 10}", data={"csrf_token": token,
                                                              "passcode": "guess-guess"},
                           environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code
               for i in range(30)]
    assert guesses == [404] * 30
    refused = client.post(path, data={"csrf_token": token, "passcode": PASSCODE},
                          environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many passcodes were tried from this connection" in words_of(refused)
    # Refused before the passcode was checked: no try was taken from the link.
    assert notes_store.look_up(path.rsplit("/", 1)[1]).tries_left == 5
    elsewhere = client.post(path, data={"csrf_token": token, "passcode": PASSCODE},
                            environ_base={"REMOTE_ADDR": "198.51.100.10"})
    assert elsewhere.status_code == 200 and "tries" in elsewhere.get_data(as_text=True)
