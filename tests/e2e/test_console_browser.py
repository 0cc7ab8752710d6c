"""The staff console in headless Chromium, on screenings made by the real Rasa and action servers.

A coordinator signs in, reads the queue and a real transcript, changes a status, exports the CSV;
a patient's ``<script>`` and ``<img onerror>`` show as text; every page without a session sends
the browser to sign in; a monitor never sees an email address or a phone number, CSV included.
The morning's work (issue 11): the queue opens on the day's work with counts per status, sorts by
its column headers (aria-sort), marks the overdue lead; a lead's summary lists what its transcript
marks for the site; phones and emails are links; a note keeps its lines; system payloads are
hidden from the transcript; the audit trail filters by who and what and names the patient, masked
for a monitor, who may read it; CSV times carry their offset. axe-core (node_modules, injected
from disk: no CDN) finds no violation on any console page. Screenshots of each page go to
artifacts/screenshots/console-*.png.
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
from bot.models import Lead, Screening, utcnow
from bot.settings import PROJECT_ROOT
from tests.console.support import Tracker
from tests.e2e.conftest import stop_waitress
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
SHOWN_PHONE = "+86 138 0013 8111"  # CONTACT[1] in the international format
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
OLD_CONVERSATION = "console-old-lead"
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
    old_lead_id: str = ""
    old_screening: str = ""


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
    old_screening, old_lead = _an_old_lead(stack)
    return Screenings(lead_screening.id, lead_id, _screening_of(stack.database_url, xss).id,
                      old_lead, old_screening)


def _an_old_lead(stack) -> tuple[str, str]:
    """A lead left waiting four days (written straight to the tables, as no real screening can
    be four days old), with a conversation in the tracker store as the chat widget starts one:
    the '/greet{...}' start-up payload first, then a tapped button."""
    from datetime import timedelta

    then = utcnow() - timedelta(days=4)
    with session_scope(stack.database_url) as session:
        screening = Screening(conversation_id=OLD_CONVERSATION, trial_id="NCT06675422",
                              channel="socketio", status="may_qualify", started_at=then,
                              updated_at=then, consented_at=then, finished_at=then)
        session.add(screening)
        session.flush()
        lead = Lead(screening_id=screening.id, trial_id=screening.trial_id, first_name="Olga",
                    last_name="Aaberg", email="olga.aaberg@example.com", phone="+4790000000",
                    consent_text="You may contact me.", consented_at=then, outcome="may_qualify",
                    to_confirm=[], created_at=then)
        session.add(lead)
        session.flush()
        ids = (screening.id, lead.id)
    tracker = Tracker(stack.tracker_store_url)
    at = then
    for who, text, buttons in [
        ("patient", '/greet{"trial_id": "NCT06675422", "language": "en"}', None),
        ("bot", "Has a doctor told you that you have lupus?",
         [{"title": "Yes", "payload": '/inform{"answer": "yes"}'},
          {"title": "No", "payload": '/inform{"answer": "no"}'}]),
        ("patient", '/inform{"answer": "yes"}', None),
    ]:
        at += timedelta(seconds=10)
        tracker.say(OLD_CONVERSATION, who, text, at, buttons)
    return ids


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
            stop_waitress(server, thread)
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
    return EMAIL.findall(text) + [c for c in CONTACT + (SHOWN_PHONE, "+4790000000", "90 00 00 00")
                                  if c in text]


def no_axe_violation(driver: webdriver.Chrome, page: str) -> None:
    """axe-core, read from node_modules and injected into the page, finds no violation."""
    assert AXE.exists(), "npm install (package.json lists axe-core)"
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map("
        "  v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))),"
        "  e => done(['axe failed: ' + e]));")
    assert result == [], f"{page}: {result}"


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
    assert CONTACT[0] in row.text and SHOWN_PHONE in row.text
    assert "JY231" in row.text and "API" in row.text and "May qualify" in row.text
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
    sign_in(browser, console, COORDINATOR, "/queue?view=all")  # contacted leaves "to do"
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
    sign_in(browser, console, COORDINATOR, "/queue?view=all")
    rows = list(csv.DictReader(io.StringIO(download_csv(browser, downloads))))
    [row] = [r for r in rows if r["lead_id"] == screenings.lead_id]
    assert (row["first_name"], row["last_name"], row["email"], row["phone"]) == (
        "Maria", "Console", CONTACT[0], SHOWN_PHONE)
    assert row["trial_code"] == "JY231" and row["channel"] == "API"
    # Times carry their time zone: ISO 8601 with the offset (UTC here: +00:00).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["received_at"])
    [old] = [r for r in rows if r["lead_id"] == screenings.old_lead_id]
    assert old["overdue"] == "yes" and old["days_waiting"] == "4"
    shoot_text = "\n".join(f"{k}: {v}" for k, v in row.items() if k not in ("email", "phone"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "console-csv-row.txt").write_text(shoot_text, encoding="utf-8")


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
    browser.get(console + "/queue?view=all")  # the lead was contacted: not in "to do"
    assert browser.find_elements(By.NAME, "save-status") == []  # read-only
    shoot(browser, "monitor-queue")
    exported = download_csv(browser, downloads)
    assert screenings.lead_id in exported and contact_details_in(exported) == []
    browser.get(f"{console}/screenings/{screenings.lead_screening}")
    assert "•••@•••" in browser.find_element(By.ID, "chat").text
    shoot(browser, "monitor-transcript")
    browser.get(console + "/audit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Audit trail"  # monitors review it
    audit = browser.find_element(By.ID, "audit").text
    assert "Lead: M. C." in audit and "Maria Console" not in audit
    assert contact_details_in(browser.page_source) == []
    no_axe_violation(browser, "monitor audit")
    shoot(browser, "monitor-audit")



def test_the_queue_opens_on_the_days_work_sorted_by_its_headers(browser, console, screenings):
    sign_in(browser, console, COORDINATOR)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Today’s work"
    counts = browser.find_element(By.ID, "counts").text
    assert re.search(r"New: [1-9]", counts) and "Enrolled: " in counts
    old = browser.find_element(By.ID, f"lead-{screenings.old_lead_id}")
    assert "overdue" in old.find_element(By.CLASS_NAME, "waiting").text
    assert "4 days waiting" in old.text and "Web chat" in old.text
    shoot(browser, "queue-today")
    header = browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=name]")
    click_and_load(browser, header)
    th = browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=name]").find_element(
        By.XPATH, "..")
    assert th.get_attribute("aria-sort") == "ascending"
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#queue a.patient")]
    assert names[0] == "Olga Aaberg"  # A before C
    no_axe_violation(browser, "queue sorted by name")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=name]"))
    th = browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=name]").find_element(
        By.XPATH, "..")
    assert th.get_attribute("aria-sort") == "descending"
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#queue a.patient")][-1] == (
        "Olga Aaberg")
    shoot(browser, "queue-sorted")


def test_a_leads_summary_lists_what_its_transcript_marks(browser, console, screenings):
    sign_in(browser, console, COORDINATOR, f"/screenings/{screenings.lead_screening}")
    marked = [e.get_attribute("id").removeprefix("criterion-") for e in browser.find_elements(
        By.CSS_SELECTOR, "tbody.verdict-needs_confirmation")]
    age = browser.find_element(By.ID, "criterion-age_range").text
    assert len(marked) > 1
    browser.get(f"{console}/leads/{screenings.lead_id}")
    summary = browser.find_element(By.ID, "lead-summary")
    listed = [e.get_attribute("data-criterion")
              for e in summary.find_elements(By.CSS_SELECTOR, "li[data-criterion]")]
    assert listed == marked  # every one, in the same order
    shown_age = summary.find_element(By.CLASS_NAME, "age").text
    assert shown_age and shown_age in age
    assert summary.find_element(By.CLASS_NAME, "medicines").text not in ("", "—")
    phone = browser.find_element(By.CSS_SELECTOR, "a.phone")
    assert phone.get_attribute("href") == "tel:+8613800138111" and phone.text == SHOWN_PHONE
    email = browser.find_element(By.CSS_SELECTOR, "a.email")
    assert email.get_attribute("href") == f"mailto:{CONTACT[0]}"
    shoot(browser, "lead-summary")
    browser.get(f"{console}/queue?view=all")
    row = browser.find_element(By.ID, f"lead-{screenings.lead_id}")
    assert [e.get_attribute("data-criterion")
            for e in row.find_elements(By.CSS_SELECTOR, "li[data-criterion]")] == marked


def test_a_note_keeps_its_lines(browser, console, screenings):
    sign_in(browser, console, COORDINATOR, f"/leads/{screenings.old_lead_id}")
    box = browser.find_element(By.ID, f"note-{screenings.old_lead_id}")
    assert box.tag_name == "textarea"
    box.send_keys("Called at 9: no answer.\n<b>Try</b> again after 5.\nVoicemail left.")
    click_and_load(browser, box.find_element(By.XPATH, "../button[@type='submit']"))
    note = browser.find_element(By.CSS_SELECTOR, ".note .note-text")
    assert note.text.splitlines() == ["Called at 9: no answer.", "<b>Try</b> again after 5.",
                                      "Voicemail left."]
    assert browser.find_elements(By.CSS_SELECTOR, ".note b") == []
    no_axe_violation(browser, "lead with a note")
    shoot(browser, "lead-note")


def test_the_transcript_hides_the_start_up_payload_and_shows_the_tapped_button(
    browser, console, screenings,
):
    sign_in(browser, console, COORDINATOR, f"/screenings/{screenings.old_screening}")
    chat = browser.find_element(By.ID, "chat").text
    assert "/greet" not in chat and "/inform" not in chat
    patient = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg-patient .text")]
    assert patient == ["Yes"]
    assert browser.find_element(By.CLASS_NAME, "channel").text == "Web chat"
    no_axe_violation(browser, "transcript")
    shoot(browser, "transcript-payloads")


def test_the_audit_trail_filters_by_who_and_what_and_names_the_patient(
    browser, console, screenings,
):
    sign_in(browser, console, COORDINATOR, f"/leads/{screenings.lead_id}")
    browser.get(console + "/audit")
    browser.find_element(By.NAME, "actor").send_keys("Cora")
    Select(browser.find_element(By.NAME, "action")).select_by_visible_text("Viewed lead")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR,
                                                 "form.filters button[type=submit]"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
    assert rows and all("Viewed lead" in r.text and "Cora Coordinator" in r.text for r in rows)
    assert any("Lead: Maria Console" in r.text for r in rows)
    no_axe_violation(browser, "audit filtered")
    shoot(browser, "audit-filtered")


def test_no_console_page_has_an_axe_violation(browser, console, screenings):
    browser.get(console + "/sign-in")
    no_axe_violation(browser, "/sign-in")
    sign_in(browser, console, COORDINATOR)
    for path in ["/queue", "/queue?view=mine", "/queue?view=all&sort=status",
                 f"/leads/{screenings.lead_id}", f"/screenings/{screenings.lead_screening}",
                 f"/screenings/{screenings.xss_screening}", "/screenings", "/funnel", "/audit"]:
        browser.get(console + path)
        no_axe_violation(browser, path)


@pytest.fixture()
def seeded_console(database_url, tmp_path) -> Iterator[tuple[str, str, str]]:
    """The console on seeded leads and a tracker store written as Rasa writes it, without the
    Rasa stack: (base URL, lead id, screening id) of a lead waiting four days."""
    from datetime import timedelta

    from sqlalchemy import create_engine, text

    from tests.console.support import EVENTS_DDL, add_lead, add_screening
    from tests.console.test_console_morning import ANSWERS, VERDICTS

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                          parallelism=1))
        for email, name, role in [(COORDINATOR, "Cora Coordinator", "coordinator"),
                                  (MONITOR, "Mo Monitor", "monitor")]:
            accounts.add_staff(email, name, role, PASSWORD)
        tracker_url = f"sqlite:///{tmp_path / 'rasa.db'}"
        engine = create_engine(tracker_url)
        with engine.begin() as connection:
            connection.execute(text(EVENTS_DDL))
        engine.dispose()
        then = utcnow() - timedelta(days=4)
        sid = add_screening("seeded", answers=ANSWERS, verdicts=VERDICTS, channel="socketio",
                            started_at=then)
        lid = add_lead(sid, first="Olga", last="Aaberg", email="olga.aaberg@example.com",
                       phone="+4790000000", created_at=then)
        add_lead(add_screening("seeded-2"), first="Bea", last="Zed", created_at=utcnow())
        at = then
        for who, said_, buttons in [
            ("patient", '/greet{"trial_id": "NCT06675422", "language": "en"}', None),
            ("bot", "Has a doctor told you that you have lupus?",
             [{"title": "Yes", "payload": '/inform{"answer": "yes"}'}]),
            ("patient", '/inform{"answer": "yes"}', None),
        ]:
            at += timedelta(seconds=5)
            Tracker(tracker_url).say("seeded", who, said_, at, buttons)
        app = create_app(ConsoleSettings(secret_key="seeded-console-secret-key-0123456789abc",
                                         cookie_secure=True, tracker_store_url=tracker_url))
        port = free_port()
        server = create_server(app, host="127.0.0.1", port=port, threads=2)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            yield f"http://localhost:{port}", lid, sid
        finally:
            stop_waitress(server, thread)
            transcripts.dispose_engines()


def test_seeded_leads_every_page_passes_axe_for_coordinator_and_monitor(browser,
                                                                        seeded_console):
    """The same pages on seeded data, runnable without Rasa: axe on each, for both roles, the
    note's lines, the hidden payload, the sorted header, the monitor's masked audit trail."""
    base, lead_id, screening_id = seeded_console
    browser.get(base + "/sign-in")
    no_axe_violation(browser, "/sign-in")
    sign_in(browser, base, COORDINATOR)
    row = browser.find_element(By.ID, f"lead-{lead_id}")
    assert "overdue" in row.text and "4 days waiting" in row.text
    box = browser.find_element(By.ID, f"note-{lead_id}")
    box.send_keys("line one\n<b>two</b>\nthree")
    click_and_load(browser, box.find_element(By.XPATH, "../button[@type='submit']"))
    note = browser.find_element(By.CSS_SELECTOR, f"#lead-{lead_id} .note-text")
    assert note.text.splitlines() == ["line one", "<b>two</b>", "three"]
    for path in ["/queue", "/queue?view=mine", "/queue?view=all&sort=name", f"/leads/{lead_id}",
                 f"/screenings/{screening_id}", "/screenings", "/funnel", "/audit",
                 "/audit?actor=Cora&action=view_lead"]:
        browser.get(base + path)
        no_axe_violation(browser, path)
    browser.get(f"{base}/screenings/{screening_id}")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg-patient .text")] == [
        "Yes"]
    shoot(browser, "seeded-transcript")
    browser.get(base + "/queue?view=all&sort=name")
    header = browser.find_element(By.CSS_SELECTOR, "a.sort[data-sort=name]")
    assert header.find_element(By.XPATH, "..").get_attribute("aria-sort") == "ascending"
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#queue a.patient")] == [
        "Olga Aaberg", "Bea Zed"]
    shoot(browser, "seeded-queue-sorted")
    browser.get(f"{base}/leads/{lead_id}")
    phone = browser.find_element(By.CSS_SELECTOR, "a.phone")
    assert (phone.get_attribute("href"), phone.text) == ("tel:+4790000000", "+47 90 00 00 00")
    shoot(browser, "seeded-lead")
    browser.delete_all_cookies()
    sign_in(browser, base, MONITOR)
    for path in ["/queue", f"/leads/{lead_id}", f"/screenings/{screening_id}", "/audit"]:
        browser.get(base + path)
        no_axe_violation(browser, "monitor " + path)
        assert contact_details_in(browser.page_source) == [], path
    audit = browser.find_element(By.ID, "audit").text
    assert "Lead: O. A." in audit and "Olga" not in audit
    shoot(browser, "seeded-monitor-audit")
