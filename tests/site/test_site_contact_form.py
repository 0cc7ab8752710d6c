"""The study page's contact form and sign-up, through Flask's test client on a real database: the
chat's validators and consent records, the lead in the queue as "not pre-screened" with its email
copy in the outbox, CSRF, the rate limit, the registry link and the site's contact details."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import erasure, funnel, spool
from bot import leads as lead_store
from bot.cli import main as cli
from bot.db import dispose_all, session_scope
from bot.leads import lead_as_dict
from bot.models import Lead, LeadSource, OptIn, OutboxMessage, Screening, ScreeningStatus
from bot.protocol import (
    ProtocolError,
    get_protocol,
    missing_translations,
    parse_protocol,
    site_contact_problems,
)
from bot.ratelimit import RateLimiter
from bot.site.app import create_app

TRIAL = "NCT06675422"
TRIAL_FILE = Path(__file__).resolve().parents[2] / "trials" / f"{TRIAL}.yml"
GOOD = {"first_name": "Ana", "last_name": "Lopez", "email": "Ana.Lopez@Example.com",
        "phone": "138 0013 8002", "other_language": "Spanish", "consent": "yes"}


@pytest.fixture()
def vendor(tmp_path: Path) -> Path:
    (tmp_path / "socket.io.min.js").write_text("/* socket.io client */")
    return tmp_path


def make_client(vendor: Path, **config):
    return create_app({"VENDOR_DIR": vendor, "RASA_PORT": 5005, **config}).test_client()


@pytest.fixture()
def client(vendor: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    for name in ("SITE_NAME", "SITE_PHONE", "SITE_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "CN")
    return make_client(vendor)


def token(client, path: str = f"/trials/{TRIAL}") -> tuple[str, str, str]:
    """The page's CSRF token and its contact form's submission id, as a browser gets them."""
    html = client.get(path).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', html)
    assert csrf and submission
    return csrf.group(1), submission.group(1), html


def post_contact(client, values: dict[str, str], lang: str = "en", **extra: str):
    csrf, submission, _ = token(client, f"/trials/{TRIAL}?lang={lang}")
    form = {"csrf_token": csrf, "submission": submission, "lang": lang, **values, **extra}
    return client.post(f"/trials/{TRIAL}/contact", data=form)


def leads() -> list[Lead]:
    with session_scope() as session:
        rows = session.execute(select(Lead)).scalars().all()
        for row in rows:
            _ = row.screening.channel  # loaded before the session closes
        return rows


def test_a_valid_form_puts_a_not_prescreened_lead_in_the_queue_with_its_email_copy(client):
    response = post_contact(client, GOOD)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/trials/{TRIAL}?lang=en&sent=contact#contact")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "We have submitted the contact information you provided" in page
    assert "data-contact-form" not in page  # the confirmation, in the form's place

    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        screening = lead.screening
        assert (lead.source, lead.outcome) == (LeadSource.CONTACT_FORM,
                                               ScreeningStatus.NOT_SCREENED)
        assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.other_language) == (
            "Ana", "Lopez", "Ana.Lopez@example.com", "+8613800138002", "Spanish")
        assert lead.consent_version == "en-1" and lead.consented_at is not None
        assert "on the study page's contact form" in lead.consent_text
        assert "was not pre-screened" in lead.consent_text
        assert (screening.channel, screening.status) == ("site_form",
                                                         ScreeningStatus.NOT_SCREENED)
        assert screening.consented_at is None and screening.answers == []  # no health consent
        as_dict = lead_as_dict(lead)
        assert (as_dict["source"], as_dict["pre_screened"]) == ("contact_form", False)
        mail = session.execute(select(OutboxMessage)).scalar_one()
        assert mail.to_addr == "Ana.Lopez@example.com" and mail.sent_at is None
        assert "Hello Ana" in mail.body and "JY231" in mail.subject


def test_a_form_sent_twice_is_one_lead_and_one_email(client):
    csrf, submission, _ = token(client)
    form = {"csrf_token": csrf, "submission": submission, "lang": "en", **GOOD}
    assert client.post(f"/trials/{TRIAL}/contact", data=form).status_code == 303
    assert client.post(f"/trials/{TRIAL}/contact", data=form).status_code == 303
    with session_scope() as session:
        assert len(session.execute(select(Lead)).scalars().all()) == 1
        assert len(session.execute(select(OutboxMessage)).scalars().all()) == 1


def test_bad_input_is_named_in_words_and_nothing_typed_is_lost(client):
    typed = {**GOOD, "email": "ana.lopez@", "phone": "12", "first_name": "Ana3"}
    del typed["consent"]
    response = post_contact(client, typed)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "That doesn&#39;t look like an email address." in html  # the chat's own words
    assert "That doesn&#39;t look like a phone number." in html
    assert "Please type your name using letters" in html
    assert "Please tick the box to agree" in html
    for name in ("first_name", "last_name", "email", "phone", "other_language"):
        value = typed[name]
        assert re.search(rf'name="{name}" type="\w+" maxlength="200"\s+value="{re.escape(value)}"',
                         html), name
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert 'id="contact-consent" checked' not in html  # never ticked for the patient
    # The problems box links to each field with one, in the form's order.
    links = re.findall(r'<li><a href="#contact-(\w+)">', html)
    assert links == ["first_name", "email", "phone", "consent"]
    assert leads() == []


def test_an_empty_required_field_is_asked_for_and_the_tick_is_kept(client):
    response = post_contact(client, {**GOOD, "last_name": "  "})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please fill this in." in html
    assert 'id="contact-consent" checked' in html  # the patient's own tick, not asked again
    assert leads() == []


def test_the_chinese_page_answers_in_chinese_and_records_the_chinese_consent(client):
    bad = post_contact(client, {**GOOD, "email": "不是邮箱", "first_name": "建华",
                                "last_name": "王"}, lang="zh")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "这看起来不像是电子邮箱地址" in html and "建华" in html
    good = post_contact(client, {**GOOD, "first_name": "建华", "last_name": "王",
                                 "other_language": ""}, lang="zh")
    assert good.status_code == 303 and "lang=zh" in good.headers["Location"]
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert (lead.first_name, lead.last_name, lead.other_language) == ("建华", "王", None)
        assert lead.consent_version == "zh-1" and "患者未做预筛查" in lead.consent_text
        assert lead.screening.language == "zh"


def test_a_post_without_the_pages_token_is_refused_and_keeps_what_was_typed(client):
    token(client)  # the session cookie exists; the token is not sent (a form on another site)
    response = client.post(f"/trials/{TRIAL}/contact", data={
        "submission": "0" * 32, "lang": "en", **GOOD})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This form had expired" in html and 'value="Lopez"' in html
    assert leads() == []
    again = client.post(f"/trials/{TRIAL}/sign-up", data={"csrf_token": "forged",
                                                          "email": "a@example.org"})
    assert again.status_code == 400 and 'value="a@example.org"' in again.get_data(as_text=True)


def test_the_page_sets_its_cookie_and_headers_for_the_forms(client):
    response = client.get(f"/trials/{TRIAL}")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("prescreen_site=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "form-action 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"].startswith("no-store")


def test_forms_over_the_rate_limit_are_refused_with_the_values_kept(vendor, database_url,
                                                                    monkeypatch):
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    client = make_client(vendor, FORM_LIMIT=2, FORM_WINDOW_SECONDS=3600)
    assert post_contact(client, GOOD).status_code == 303
    assert post_contact(client, GOOD).status_code == 303
    refused = post_contact(client, {**GOOD, "first_name": "Third"})
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "Too many forms were sent from here" in html and 'value="Third"' in html
    assert len(leads()) == 2


def test_the_bucket_refills_with_time():
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a")] == [True, True, False]
    assert limiter.allow("b")  # another address has its own bucket
    now[0] = 30.0  # half the window: one form back
    assert [limiter.allow("a"), limiter.allow("a")] == [True, False]


def test_the_sign_up_records_the_opt_in_with_the_chats_consent_words(client):
    csrf, _, html = token(client)
    assert "Would you like to be notified about other trials?" in html
    assert "Do you agree that we keep your email address" in html
    missing = client.post(f"/trials/{TRIAL}/sign-up", data={
        "csrf_token": csrf, "lang": "en", "email": "ana@example.org"})
    assert missing.status_code == 400
    assert "Please tick the box to agree" in missing.get_data(as_text=True)
    response = client.post(f"/trials/{TRIAL}/sign-up", data={
        "csrf_token": csrf, "lang": "en", "email": " Ana@Example.org ", "consent": "yes"})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "sent=signup#notify")
    assert "you&#39;re signed up" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    with session_scope() as session:
        optin = session.execute(select(OptIn)).scalar_one()
        assert (optin.email, optin.trial_id, optin.screening_id) == (
            "Ana@example.org", TRIAL, None)
        assert optin.consent_version == "en-1" and "unsubscribe" in optin.consent_text


def test_the_registry_link_and_the_site_contact_details_are_on_the_page(client, monkeypatch):
    _, _, html = token(client)
    assert f'href="https://clinicaltrials.gov/study/{TRIAL}"' in html
    assert "920th Hospital" in html and "Kunming, China" in html
    assert "English, 中文" in html  # the languages the team works in
    assert "tel:" not in html and "mailto:" not in html  # the listing gives neither
    monkeypatch.setenv("SITE_PHONE", "+44 20 7946 0958")
    monkeypatch.setenv("SITE_EMAIL", "study-team@site.example")
    _, _, html = token(client)
    assert 'href="tel:+442079460958"' in html and "+44 20 7946 0958" in html
    assert 'href="mailto:study-team@site.example"' in html


def test_the_protocol_checks_the_sites_phone_email_and_address():
    raw = yaml.safe_load(TRIAL_FILE.read_text(encoding="utf-8"))
    site = {**raw["site"], "phone": "+44 20 7946 0958", "email": "team@site.example",
            "address": {"en": "1 Example Road\nKunming", "zh": "昆明市示例路1号"}}
    protocol = parse_protocol({**raw, "site": site})
    assert (protocol.site.phone, protocol.site.email) == ("+442079460958", "team@site.example")
    assert protocol.site.address.get("zh") == "昆明市示例路1号"
    assert missing_translations(protocol) == []
    only_english = parse_protocol({**raw, "site": {**site, "address": "1 Example Road"}})
    assert any("site.address has no zh text" in p for p in missing_translations(only_english))
    with pytest.raises(ProtocolError, match="site.phone"):
        parse_protocol({**raw, "site": {**site, "phone": "12"}})
    with pytest.raises(ProtocolError, match="site.email"):
        parse_protocol({**raw, "site": {**site, "email": "team@"}})
    # The committed file gives what the listing gives: no phone or email.
    assert (get_protocol(TRIAL).site.phone, get_protocol(TRIAL).site.email) == ("", "")


def test_unusable_site_contact_settings_are_named_and_fail_the_trial_check(monkeypatch, capsys):
    monkeypatch.setenv("SITE_PHONE", "call us")
    monkeypatch.setenv("SITE_EMAIL", "team@")
    problems = site_contact_problems()
    assert len(problems) == 2 and "SITE_PHONE" in problems[0] and "SITE_EMAIL" in problems[1]
    assert cli(["check-trials"]) == 1
    assert "SITE_PHONE is not a phone number" in capsys.readouterr().err
    assert get_protocol(TRIAL).site_phone() == ""  # never shown to a patient
    monkeypatch.setenv("SITE_PHONE", "+44 20 7946 0958")
    monkeypatch.delenv("SITE_EMAIL")
    assert site_contact_problems() == []


def test_a_form_lead_is_erased_by_email_and_left_out_of_the_funnel(client, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'rasa.db'}")
    assert post_contact(client, GOOD).status_code == 303
    with session_scope() as session:
        assert funnel.load_facts(session) == []
    result = erasure.erase(emails=["ana.lopez@example.com"])
    assert result.counts.leads == 1 and result.counts.screenings == 1
    with session_scope() as session:
        assert session.execute(select(Screening)).scalars().all() == []
        assert session.execute(select(OutboxMessage)).scalars().all() == []


def test_a_form_lead_sent_while_the_database_is_down_is_spooled_then_stored(
    database_url, monkeypatch, tmp_path
):
    details = lead_store.ContactDetails("Ana", "Lopez", "ana@example.org", "+8613800138002", None)
    unreachable = tmp_path / "db-is-a-directory"
    unreachable.mkdir()  # SQLite cannot open it
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{unreachable}")
    stored = lead_store.submit_form_lead("a" * 32, TRIAL, details, "form consent words", "en",
                                         "en-1")
    assert stored is lead_store.Stored.SPOOL
    (item,) = spool.pending(lead_store.LEAD_SPOOL)
    assert b"Lopez" not in item.read_bytes() and b"ana@example.org" not in item.read_bytes()
    monkeypatch.setenv("DATABASE_URL", database_url)  # the database is back
    dispose_all()
    assert lead_store.replay_spooled_leads() == (1, 0)
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert (lead.source, lead.email, lead.consent_version) == (
            LeadSource.CONTACT_FORM, "ana@example.org", "en-1")
        assert lead.screening.conversation_id == "site-form:" + "a" * 32
        assert len(session.execute(select(OutboxMessage)).all()) == 1
    with pytest.raises(ValueError):
        lead_store.submit_form_lead("../../x", TRIAL, details, "words")
