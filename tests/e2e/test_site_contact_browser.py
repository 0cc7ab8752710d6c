"""The study page in full, in headless Chromium (issue 11): the contact form for patients who
would rather not chat, from a validation error (every typed value kept) to the lead in the
console's queue marked "not pre-screened"; the sign-up for news of other trials; the registry
link and the site's contact details; the page at 320 px wide with no sideways scroll, the chat's
Send button whole, and the greeting short enough that its question is in view. axe-core finds no
violation on any of these pages; screenshots go to artifacts/screenshots/.

The forms are served by the study page's own app, in this process on a free port, on a database
of this module's own, beside the console app reading the same database; the greeting comes from
the real stack (Rasa, the action server, ``python -m bot site``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select
from waitress.server import create_server

from bot import db
from bot.console import accounts
from bot.console.app import create_app as create_console
from bot.console.settings import ConsoleSettings
from bot.db import session_scope
from bot.deploy.services import free_port
from bot.models import Lead, LeadSource, OptIn, OutboxMessage, ScreeningStatus
from bot.settings import PROJECT_ROOT
from bot.site.app import create_app as create_site
from tests.e2e.conftest import stop_waitress
from tests.e2e.test_console_browser import (
    PASSWORD,
    click_and_load,
    no_axe_violation,
    sign_in,
)
from tests.e2e.test_site_browser import SCREENSHOTS, StudyPage, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TRIAL = "NCT06675422"
NARROW = (320, 640)
PHONE = (390, 844)
COORDINATOR = "form.coordinator@site.example"
# The site's phone and email here are the tests' own: Ofcom's range for drama (020 7946 0xxx) and
# a reserved domain. The trial file gives none, as the listing gives none.
SITE_PHONE = "+44 20 7946 0958"
SITE_EMAIL = "study-team@example.org"
VENDOR = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist"
SIDEWAYS = "return document.documentElement.scrollWidth"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The study page and the console, each served by waitress in this process, on one fresh
    database; the page shows the tests' own site phone and email."""
    base = tmp_path_factory.mktemp("site-forms")
    url = f"sqlite:///{base / 'prescreen.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"DATABASE_URL": url, "OUTBOX_DIR": str(base / "outbox"),
                            "SPOOL_DIR": str(base / "spool"), "DEFAULT_TRIAL": TRIAL,
                            "SITE_PHONE": SITE_PHONE, "SITE_EMAIL": SITE_EMAIL,
                            "DEFAULT_PHONE_REGION": "CN"}.items():
            patch.setenv(name, value)
        patch.delenv("SITE_NAME", raising=False)
        patch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                          parallelism=1))
        db.init_db(url)
        accounts.add_staff(COORDINATOR, "Cora Form", "coordinator", PASSWORD)
        rasa_port = free_port()  # nothing listens: these pages are about their forms
        apps = {
            "site": create_site({"VENDOR_DIR": VENDOR, "RASA_PORT": rasa_port,
                                 "FORM_LIMIT": 50}),
            "console": create_console(ConsoleSettings(
                secret_key="site-forms-console-secret-key-0123456789",
                cookie_secure=True, tracker_store_url=f"sqlite:///{base / 'rasa.db'}")),
        }
        running, urls = [], {}
        for name, app in apps.items():
            port = free_port()
            server = create_server(app, host="127.0.0.1", port=port, threads=4)
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            running.append((server, thread))
            urls[name] = f"http://localhost:{port}"
        urls["database"] = url
        try:
            yield urls
        finally:
            for server, thread in running:
                stop_waitress(server, thread)
            db.dispose_all()


def shot(driver: webdriver.Chrome, name: str, size: tuple[int, int], selector: str) -> Path:
    """A screenshot of the viewport at ``size``, with ``selector`` scrolled to the top."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600})
    driver.execute_script(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", selector)
    time.sleep(0.3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"site-{name}.png"
    driver.save_screenshot(str(path))
    return path


def fill(driver: webdriver.Chrome, form: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, f"{form} [name={name}]")
        field.clear()
        field.send_keys(value)


def typed(driver: webdriver.Chrome, form: str, name: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"{form} [name={name}]").get_attribute("value")


def narrow(driver: webdriver.Chrome, size: tuple[int, int] = NARROW) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": True})


def test_the_contact_form_from_an_error_to_the_queue_marked_not_prescreened(browser, servers):  # noqa: F811
    narrow(browser, PHONE)
    browser.get(f"{servers['site']}/trials/{TRIAL}")
    browser.find_element(By.CSS_SELECTOR, "[data-contact-link]").click()  # to #contact
    form = "[data-contact-form]"
    values = {"first_name": "Lin", "last_name": "Okafor", "email": "lin.okafor@example",
              "phone": "138 0013 8055", "other_language": "Cantonese"}
    fill(browser, form, values)
    # No consent ticked, and an email without its domain's ending: sent as a patient would.
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]"))
    problems = browser.find_element(By.ID, "contact-problems")
    assert problems.get_attribute("role") == "alert"
    email_error = browser.find_element(By.ID, "contact-email-error").text
    assert email_error.startswith("That doesn't look like an email address.")
    assert "Please tick the box" in browser.find_element(By.ID, "contact-consent-error").text
    assert {name: typed(browser, form, name) for name in values} == values  # nothing lost
    email = browser.find_element(By.ID, "contact-email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "contact-email-error" in email.get_attribute("aria-describedby")
    shot(browser, "contact-error", PHONE, "#contact-problems")
    no_axe_violation(browser, "study page, contact form with problems")

    fill(browser, form, {"email": "lin.okafor@example.com"})
    browser.find_element(By.ID, "contact-consent").click()
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]"))
    sent = browser.find_element(By.CSS_SELECTOR, "[data-contact-sent]")
    assert sent.text.startswith("We have submitted the contact information you provided")
    assert browser.find_elements(By.CSS_SELECTOR, form) == []
    shot(browser, "contact-sent", PHONE, "#contact")
    no_axe_violation(browser, "study page, contact form sent")

    with session_scope(servers["database"]) as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert (lead.source, lead.outcome, lead.email, lead.phone) == (
            LeadSource.CONTACT_FORM, ScreeningStatus.NOT_SCREENED, "lin.okafor@example.com",
            "+8613800138055")
        assert lead.consent_version == "en-1" and "not pre-screened" in lead.consent_text
        mail = session.execute(select(OutboxMessage)).scalar_one()
        assert mail.to_addr == "lin.okafor@example.com"  # the copy, through the outbox
        lead_id = lead.id

    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.set_window_size(1400, 1000)
    sign_in(browser, servers["console"], COORDINATOR)
    row = browser.find_element(By.ID, f"lead-{lead_id}")
    assert "not pre-screened" in row.find_element(By.CSS_SELECTOR, "[data-not-prescreened]").text
    assert "Not pre-screened (contact form)" in row.find_element(By.CSS_SELECTOR,
                                                                 ".outcome").text
    assert "Contact form" in row.find_element(By.CSS_SELECTOR, ".channel").text
    assert row.find_elements(By.LINK_TEXT, "Transcript") == []  # there is none to read
    browser.save_screenshot(str(SCREENSHOTS / "console-queue-not-prescreened.png"))
    no_axe_violation(browser, "console queue with a form lead")
    click_and_load(browser, row.find_element(By.CSS_SELECTOR, "a.patient"))
    assert "answered no questions" in browser.find_element(By.ID, "not-prescreened").text
    assert browser.find_elements(By.LINK_TEXT, "Read the transcript") == []
    browser.save_screenshot(str(SCREENSHOTS / "console-lead-not-prescreened.png"))
    no_axe_violation(browser, "console lead page of a form lead")


def test_the_sign_up_for_other_trials(browser, servers):  # noqa: F811
    narrow(browser, PHONE)
    browser.get(f"{servers['site']}/trials/{TRIAL}?lang=zh")
    form = "[data-signup-form]"
    fill(browser, form, {"email": "wang.signup@example.com"})
    browser.find_element(By.ID, "signup-consent").click()
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]"))
    assert "已经为您登记" in browser.find_element(By.CSS_SELECTOR, "[data-signup-sent]").text
    shot(browser, "signup-sent-zh", PHONE, "#notify")
    no_axe_violation(browser, "study page in Chinese, signed up")
    with session_scope(servers["database"]) as session:
        optin = session.execute(
            select(OptIn).where(OptIn.trial_id == TRIAL)).scalars().all()[-1]
        assert optin.email == "wang.signup@example.com" and optin.consent_version == "zh-1"


def test_the_registry_link_and_the_sites_contact_details(browser, servers):  # noqa: F811
    narrow(browser, NARROW)
    browser.get(f"{servers['site']}/trials/{TRIAL}")
    link = browser.find_element(By.CSS_SELECTOR, "[data-registry]")
    assert link.get_attribute("href") == f"https://clinicaltrials.gov/study/{TRIAL}"
    assert TRIAL in link.text
    contact = browser.find_element(By.CSS_SELECTOR, ".primary-contact")
    assert "920th Hospital" in contact.text and "Kunming, China" in contact.text
    assert browser.find_element(By.CSS_SELECTOR, "[data-site-phone]").get_attribute(
        "href") == "tel:+442079460958"
    assert browser.find_element(By.CSS_SELECTOR, "[data-site-email]").text == SITE_EMAIL
    assert browser.find_element(By.CSS_SELECTOR, "[data-languages]").text == "English, 中文"
    assert browser.execute_script(SIDEWAYS) <= NARROW[0]
    shot(browser, "320-contact-details", NARROW, "#contact")
    shot(browser, "320-registry", NARROW, "#facts-heading")
    no_axe_violation(browser, "study page at 320 px, contact details")


def send_button_whole(driver: webdriver.Chrome) -> dict[str, float]:
    return driver.execute_script("""
        const b = document.querySelector('.chat__form .button').getBoundingClientRect();
        const f = document.querySelector('.chat__form').getBoundingClientRect();
        return {left: b.left, right: b.right, formLeft: f.left, formRight: f.right,
                width: b.width, scrollWidth: b.width ? document.querySelector(
                  '.chat__form .button').scrollWidth : 0};""")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_at_320_px_with_its_greeting_in_view(browser, site_url, lang):  # noqa: F811
    page = StudyPage(browser, f"{site_url}/trials/{TRIAL}?lang={lang}")
    page.viewport(NARROW)
    page.open(fresh=True)
    page.wait_for_turn(0)
    greeting = page.bot_texts()
    # Short messages, the consent question last with its buttons.
    assert len(greeting) == 5, greeting
    assert max(len(t) for t in greeting) < 260, [len(t) for t in greeting]
    assert page.log()[-1]["replies"] == (
        ["Yes, let's start", "No, thanks"] if lang == "en" else ["可以，开始吧", "不用了，谢谢"])
    assert browser.execute_script(SIDEWAYS) <= NARROW[0], "the page scrolls sideways"

    browser.execute_script("document.querySelector('#chat').scrollIntoView({block: 'start'})")
    time.sleep(0.3)
    # The question and its buttons are in the chat's view, and the chat in the window's.
    seen = browser.execute_script("""
        const log = document.querySelector('[data-chat-log]').getBoundingClientRect();
        const msgs = document.querySelectorAll('[data-chat-log] .msg');
        const q = msgs[msgs.length - 1].getBoundingClientRect();
        return {top: q.top, bottom: q.bottom, logTop: log.top, logBottom: log.bottom,
                height: window.innerHeight};""")
    assert seen["logTop"] - 1 <= seen["top"] and seen["bottom"] <= seen["logBottom"] + 1, seen
    assert seen["top"] >= 0 and seen["bottom"] <= seen["height"], seen

    button = send_button_whole(browser)
    assert button["formLeft"] - 0.5 <= button["left"] and button["right"] <= (
        button["formRight"] + 0.5), button
    assert button["right"] <= NARROW[0] and button["scrollWidth"] <= button["width"] + 0.5
    page.screenshot(f"320-greeting-{lang}", NARROW, scroll_to="#chat")
    WebDriverWait(browser, 5).until(lambda d: d.execute_script(SIDEWAYS) <= NARROW[0])
    no_axe_violation(browser, f"study page at 320 px ({lang})")
    page.screenshot(f"320-top-{lang}", NARROW)
