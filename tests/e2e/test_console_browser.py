"""The staff console in headless Chromium, on screenings made by the real Rasa and action servers.

A coordinator signs in, reads the queue and a real transcript, changes a status, exports the CSV;
a patient's ``<script>`` and ``<img onerror>`` show as text; every page without a session sends
the browser to sign in; a monitor never sees an email address or a phone number, CSV included.
Screenshots of each page go to artifacts/screenshots/console-*.png.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from waitress.server import create_server

from bot import transcripts
from bot.console import accounts
from bot.console.app import create_app
from bot.console.settings import ConsoleSettings
from bot.db import session_scope
from bot.deploy.services import free_port
from bot.models import Lead, Screening
from bot.settings import PROJECT_ROOT
from tests.e2e.test_rest_screenings import FREE_TEXT, is_read_back, last_question, said, screen

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PASSWORD = "browser test passphrase"
COORDINATOR = "coordinator@site.example"
MONITOR = "monitor@site.example"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
# The patient's contact details as stored and as typed, in every shape a page could show them.
CONTACT = ("maria.console@example.com", "+8613800138111", "138 0013 8111", "13800138111")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.\w+")
# The patient of the REST tests, in their own words; "symptoms" kept plain, as the console is what
# these tests look at (that phrasing has its own test in test_rest_screenings.py).
PATIENT = {**FREE_TEXT, "symptoms": "yes"}

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (make browser-deps)",
                allow_module_level=True)


@dataclass
class Screenings:
    lead_screening: str
    lead_id: str
    xss_screening: str


def _screening_of(database_url: str, sender: str) -> Screening:
    with session_scope(database_url) as session:
        row = session.query(Screening).filter(Screening.conversation_id == sender).one()
        session.expunge(row)
        return row


@pytest.fixture(scope="module")
def screenings(stack) -> Screenings:
    """Two real conversations: one that ends in the queue, one with markup typed as answers."""
    sender = "console-lead"
    screen(stack, sender, PATIENT)
    for text in ["yes", "Maria", "Console", CONTACT[0], "+86 138 0013 8111", "no", "yes",
                 "yes I agree"]:
        replies = stack.talk(sender, text)
    assert "We have submitted the contact information" in said(replies)
    lead_screening = _screening_of(stack.database_url, sender)
    with session_scope(stack.database_url) as session:
        lead_id = session.query(Lead.id).filter(Lead.screening_id == lead_screening.id).scalar()

    xss = "console-xss"
    stack.talk(xss, "hi")
    replies = stack.talk(xss, "yes")
    for text in (SCRIPT, IMG):
        replies = stack.talk(xss, text)
    patient = {**PATIENT, "treatment_duration": "about a month"}
    for _ in range(10):  # then answers as a patient who is ruled out early
        if is_read_back(replies):  # "So you have taken them together for 1 month. Is that right?"
            replies = stack.talk(xss, "yes")
            continue
        qid = last_question(replies)
        if qid is None:
            break
        replies = stack.talk(xss, patient[qid])
    return Screenings(lead_screening.id, lead_id, _screening_of(stack.database_url, xss).id)


@pytest.fixture(scope="module")
def console(stack, screenings) -> Iterator[str]:
    """The console app in this process, on a free port, reading the stack's two databases."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", stack.database_url)
        # Argon2id with its cost turned down, so that each sign-in takes milliseconds.
        patch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                          parallelism=1))
        for email, name, role in [(COORDINATOR, "Cora Coordinator", "coordinator"),
                                  (MONITOR, "Mo Monitor", "monitor")]:
            accounts.add_staff(email, name, role, PASSWORD)
        app = create_app(ConsoleSettings(
            secret_key="browser-test-secret-key-0123456789abcdef",
            cookie_secure=True,
            tracker_store_url=stack.tracker_store_url,
        ))
        port = free_port()
        server = create_server(app, host="127.0.0.1", port=port, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            # "localhost": browsers keep Secure cookies there without HTTPS.
            yield f"http://localhost:{port}"
        finally:
            server.close()
            thread.join(timeout=5)
            transcripts.dispose_engines()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture()
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = downloads.parent / f"profile-{os.getpid()}-{time.monotonic_ns()}"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                     "--window-size=1400,1000"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shoot(driver: webdriver.Chrome, name: str) -> None:
    """A full-page screenshot in artifacts/screenshots/console-<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
    driver.set_window_size(1400, min(max(int(height) + 120, 700), 16000))
    driver.save_screenshot(str(SHOTS / f"console-{name}.png"))
    driver.set_window_size(1400, 1000)


def click_and_load(driver: webdriver.Chrome, element: WebElement) -> None:
    """Click a link or a submit button and wait until the next page has loaded.

    The old page is marked with a window property that the next page does not have.
    Waiting on a stale element instead races the navigation: Chrome can answer with
    "Node with given id does not belong to the document", which is not the
    StaleElementReferenceException that `staleness_of` expects.
    """
    driver.execute_script("window.__pageBeforeClick = true;")
    element.click()
    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.__pageBeforeClick === undefined"
            " && document.readyState === 'complete';"))


def sign_in(driver: webdriver.Chrome, base: str, email: str, path: str = "/queue") -> None:
    driver.get(base + path)
    assert "/sign-in" in driver.current_url
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert driver.current_url == base + path, "after sign-in the browser is where it asked to be"


def download_csv(driver: webdriver.Chrome, downloads: Path) -> str:
    for old in downloads.glob("*.csv"):
        old.unlink()
    driver.find_element(By.ID, "export-csv").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = list(downloads.glob("queue-*.csv"))
        if done and not list(downloads.glob("*.crdownload")):
            return done[0].read_text(encoding="utf-8-sig")
        time.sleep(0.2)
    pytest.fail("the CSV did not download")


def contact_details_in(text: str) -> list[str]:
    return EMAIL.findall(text) + [c for c in CONTACT if c in text]


def test_every_page_without_a_session_sends_to_sign_in(browser, console, screenings):
    for path in ["/", "/queue", "/queue.csv", "/screenings",
                 f"/screenings/{screenings.lead_screening}", f"/leads/{screenings.lead_id}",
                 "/funnel", "/audit"]:
        browser.get(console + path)
        assert browser.current_url.startswith(console + "/sign-in"), path
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
        assert contact_details_in(browser.page_source) == []
    shoot(browser, "sign-in")


def test_a_coordinator_signs_in_and_sees_the_queue(browser, console, screenings):
    sign_in(browser, console, COORDINATOR)
    row = browser.find_element(By.ID, f"lead-{screenings.lead_id}")
    assert "Maria Console" in row.text
    assert CONTACT[0] in row.text and CONTACT[1] in row.text
    assert "JY231" in row.text and "rest" in row.text and "May qualify" in row.text
    cookie = browser.get_cookie("prescreen_console")
    assert cookie["httpOnly"] and cookie["secure"]
    shoot(browser, "queue")


def test_the_transcript_of_a_real_screening_sits_beside_its_criteria(browser, console,
                                                                      screenings):
    sign_in(browser, console, COORDINATOR)
    click_and_load(browser, browser.find_element(
        By.CSS_SELECTOR, f"#lead-{screenings.lead_id} a[href^='/screenings/']"))
    patient = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg-patient .text")]
    bot = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg-bot .text")]
    assert patient[:2] == ["hi", "yes"] and FREE_TEXT["steroid_dose"] in patient
    assert any("not a diagnosis" in b for b in bot)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t.text)
               for t in browser.find_elements(By.CSS_SELECTOR, ".msg time"))
    dose = browser.find_element(By.ID, "criterion-exc14_high_dose_steroids").text
    assert FREE_TEXT["steroid_dose"] in dose  # as typed, with how it was understood
    age = browser.find_element(By.ID, "criterion-age_range").text
    assert "thirty-four" in age and "Met" in age
    shoot(browser, "transcript")


def test_a_status_change_takes_one_step_and_is_kept(browser, console, screenings):
    sign_in(browser, console, COORDINATOR)
    row = browser.find_element(By.ID, f"lead-{screenings.lead_id}")
    Select(row.find_element(By.NAME, "status")).select_by_visible_text("Contacted")
    click_and_load(browser, row.find_element(By.NAME, "save-status"))
    assert "Status changed from New to Contacted." in browser.find_element(By.CLASS_NAME,
                                                                           "flash").text
    row = browser.find_element(By.ID, f"lead-{screenings.lead_id}")
    assert row.get_attribute("data-status") == "contacted"
    click_and_load(browser, row.find_element(By.CLASS_NAME, "patient"))
    history = browser.find_element(By.TAG_NAME, "main").text
    assert "Status: New → Contacted" in history and "Cora Coordinator" in history
    shoot(browser, "lead")


def test_the_queue_exports_to_csv(browser, console, screenings, downloads):
    sign_in(browser, console, COORDINATOR)
    rows = list(csv.DictReader(io.StringIO(download_csv(browser, downloads))))
    [row] = [r for r in rows if r["lead_id"] == screenings.lead_id]
    assert (row["first_name"], row["last_name"], row["email"], row["phone"]) == (
        "Maria", "Console", CONTACT[0], CONTACT[1])
    assert row["trial_code"] == "JY231" and row["channel"] == "rest"


def test_markup_typed_by_a_patient_shows_as_text_and_never_runs(browser, console, screenings):
    sign_in(browser, console, COORDINATOR, f"/screenings/{screenings.xss_screening}")
    said_by_patient = [e.text for e in browser.find_elements(By.CSS_SELECTOR,
                                                             ".msg-patient .text")]
    assert SCRIPT in said_by_patient and IMG in said_by_patient
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    shoot(browser, "transcript-markup")


def test_the_funnel_and_the_audit_trail(browser, console, screenings):
    sign_in(browser, console, COORDINATOR, "/funnel")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(charts) >= 5
    overall = browser.find_element(By.ID, "funnel-overall-desc").get_attribute("textContent")
    assert re.search(r"Started: [1-9]", overall) and "Left contact details: " in overall
    shoot(browser, "funnel")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Screenings"))
    assert browser.find_element(By.ID, f"screening-{screenings.xss_screening}")
    shoot(browser, "screenings")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Audit trail"))
    audit = browser.find_element(By.ID, "audit").text
    assert "Signed in" in audit
    shoot(browser, "audit")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "button.link"))  # sign out
    assert "You are signed out." in browser.find_element(By.CLASS_NAME, "flash").text
    browser.get(console + "/queue")
    assert "/sign-in" in browser.current_url


def test_the_audit_trail_records_views_exports_and_changes(browser, console, screenings,
                                                           downloads):
    sign_in(browser, console, COORDINATOR)
    download_csv(browser, downloads)
    browser.get(f"{console}/screenings/{screenings.lead_screening}")
    browser.get(console + "/audit")
    audit = browser.find_element(By.ID, "audit").text
    for entry in ("Signed in", "Viewed transcript", "Exported CSV", "Changed status"):
        assert entry in audit


def test_a_monitor_never_sees_an_email_or_phone_number(browser, console, screenings,
                                                       downloads):
    sign_in(browser, console, MONITOR)
    pages = ["/queue", f"/leads/{screenings.lead_id}", f"/screenings/{screenings.lead_screening}",
             f"/screenings/{screenings.xss_screening}", "/screenings", "/funnel"]
    for path in pages:
        browser.get(console + path)
        assert contact_details_in(browser.page_source) == [], path
    browser.get(console + "/queue")
    assert browser.find_elements(By.NAME, "save-status") == []  # read-only
    shoot(browser, "monitor-queue")
    exported = download_csv(browser, downloads)
    assert screenings.lead_id in exported and contact_details_in(exported) == []
    browser.get(f"{console}/screenings/{screenings.lead_screening}")
    assert "•••@•••" in browser.find_element(By.ID, "chat").text
    shoot(browser, "monitor-transcript")
    browser.get(console + "/audit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not for your role"
