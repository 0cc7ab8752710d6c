"""A whole screening on the study page, in headless Chromium, the way a patient does it: tapping
quick replies, typing free text, using the keyboard alone, reloading halfway and carrying on,
and ending with the lead in the contact queue. Screenshots at a phone and a desktop size go to
artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Lead, Screening
from bot.settings import PROJECT_ROOT
from tests.e2e.test_rest_screenings import FREE_TEXT, QUESTION_BY_TEXT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
PHONE = (390, 844)
DESKTOP = (1280, 900)
TRIAL = "NCT06675422"
TYPING = "The assistant is typing…"

# What the page shows, read in the browser: each message's sender, text and quick replies.
READ_LOG = """
return Array.from(document.querySelectorAll('[data-chat-log] .msg')).map(m => ({
  from: m.classList.contains('msg--user') ? 'user' : 'bot',
  text: m.querySelector('.msg__text').lastChild.textContent,
  replies: Array.from(m.querySelectorAll('.quick-reply')).map(b => b.textContent)
}));
"""
# Records every text the status line (role="status") shows, to see the typing indicator.
WATCH_STATUS = """
window.__statuses = [];
const status = document.querySelector('[data-chat-status]');
new MutationObserver(() => window.__statuses.push(status.textContent))
  .observe(status, {childList: true, characterData: true, subtree: true});
"""
# The colours the browser renders, with the first opaque background behind each element.
COLOURS = """
const opaque = (el) => {
  for (; el; el = el.parentElement) {
    const bg = getComputedStyle(el).backgroundColor;
    if (bg && !bg.startsWith('rgba(0, 0, 0, 0)') && bg !== 'transparent') return bg;
  }
  return 'rgb(255, 255, 255)';
};
return arguments[0].map(sel => {
  const el = document.querySelector(sel);
  return el && [sel, getComputedStyle(el).color, opaque(el)];
}).filter(Boolean);
"""


def rgb(css: str) -> tuple[int, int, int]:
    parts = css[css.index("(") + 1 : css.index(")")].split(",")
    return tuple(int(float(p)) for p in parts[:3])  # type: ignore[return-value]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def luminance(colour: tuple[int, int, int]) -> float:
        lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
               for c in colour]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a profile of its own (a fresh one each time)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("headless Chromium is missing: run `make browser-deps`")
    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


class StudyPage:
    """The page as a patient uses it, with waits that end when the bot has finished its turn."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        self.url = url
        self.size: tuple[int, int] | None = None

    def open(self, fresh: bool = False) -> None:
        """Load the page; ``fresh``: in a new tab, as a new visitor (no conversation kept)."""
        if fresh:
            previous = self.driver.current_window_handle
            self.driver.switch_to.new_window("tab")
            fresh_tab = self.driver.current_window_handle
            self.driver.switch_to.window(previous)
            self.driver.close()
            self.driver.switch_to.window(fresh_tab)
            if self.size:
                self.viewport(self.size)
        self.driver.get(self.url)
        self.driver.execute_script(WATCH_STATUS)

    def log(self) -> list[dict[str, Any]]:
        return self.driver.execute_script(READ_LOG)

    def bot_texts(self) -> list[str]:
        return [m["text"] for m in self.log() if m["from"] == "bot"]

    def quick_replies(self) -> list[str]:
        return [title for m in self.log() for title in m["replies"]]

    def question(self) -> str | None:
        """The protocol question the bot's latest turn ends with (after its line of progress,
        "Question 6 of about 25"), if any."""
        for message in reversed(self.log()):
            if message["from"] == "user":
                return None
            text = message["text"].split("\n")[-1].strip()
            if text in QUESTION_BY_TEXT:
                return QUESTION_BY_TEXT[text]
        return None

    def reading_back(self) -> bool:
        """The bot says what it understood of a typed answer and asks "Is that right?"."""
        log = self.log()
        return bool(log) and log[-1]["from"] == "bot" and log[-1]["text"].rstrip().endswith(
            "Is that right?") and "Yes, that's right" in log[-1]["replies"]

    def prompted(self) -> bool:
        """The bot's last message asks something: it has options, or a question mark."""
        log = self.log()
        return bool(log) and log[-1]["from"] == "bot" and (
            bool(log[-1]["replies"]) or "?" in log[-1]["text"])

    def wait_for_turn(
        self, before: int, until: Callable[[], bool] | None = None, timeout: float = 30
    ) -> None:
        """Until the bot has answered (more messages than ``before``), has asked its next
        question (or ``until`` holds), and has sent nothing more for a moment."""
        until = until or self.prompted
        deadline = time.monotonic() + timeout
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.log())
            if count != last:
                last, stable_since = count, time.monotonic()
            elif count > before and time.monotonic() - stable_since > 0.3 and until():
                return
            time.sleep(0.05)
        raise TimeoutException(f"no answer from the bot; the page shows {self.bot_texts()[-3:]}")

    def _acting(self, action: Callable[[], None], until: Callable[[], bool] | None) -> None:
        before = len(self.log())
        action()
        self.wait_for_turn(before, until)

    def tap(self, title: str, until: Callable[[], bool] | None = None) -> None:
        buttons = [b for b in self.driver.find_elements(By.CSS_SELECTOR, ".quick-reply")
                   if b.text == title]
        assert buttons, f"no {title!r} among {self.quick_replies()}"
        self._acting(buttons[-1].click, until)

    def type(self, text: str, until: Callable[[], bool] | None = None) -> None:
        field = self.driver.find_element(By.ID, "chat-input")
        self._acting(lambda: field.send_keys(text, Keys.ENTER), until)

    def says(self, words: str) -> Callable[[], bool]:
        return lambda: any(words in text for text in self.bot_texts())

    def choose_with_keyboard(self, title: str) -> None:
        """From the answer field, Shift+Tab back through the options to ``title``; Enter."""
        self.driver.find_element(By.ID, "chat-input").click()
        for _ in range(len(self.quick_replies())):
            self.active().send_keys(Keys.SHIFT, Keys.TAB)
            if self.active().text == title:
                self._acting(lambda: self.active().send_keys(Keys.ENTER), None)
                return
        pytest.fail(f"{title!r} cannot be reached with the keyboard")

    def active(self):
        return self.driver.switch_to.active_element

    def focused_id(self) -> str:
        return self.active().get_attribute("id") or ""

    def session_id(self) -> str:
        return self.driver.execute_script(
            f"return JSON.parse(sessionStorage.getItem('prescreen-chat:{TRIAL}')).sessionId"
        )

    def viewport(self, size: tuple[int, int]) -> None:
        """Exactly this many CSS pixels, as a phone (narrow) or a desktop browser shows them."""
        self.size = size
        width, height = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
        })

    def screenshot(self, name: str, size: tuple[int, int], scroll_to: str | None = None) -> Path:
        self.viewport(size)
        if scroll_to:
            self.driver.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", scroll_to
            )
        else:
            self.driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"site-{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def answer(page: StudyPage, qid: str, keyboard_for: set[str]) -> None:
    """Answer as the patient would: a tap for a plain yes or no, else typed words."""
    text = FREE_TEXT[qid]
    if text in ("yes", "no") and text.capitalize() in page.quick_replies():
        if qid in keyboard_for:
            page.choose_with_keyboard(text.capitalize())
        else:
            page.tap(text.capitalize())
    else:
        page.type(text)


def reload_and_carry_on(page: StudyPage) -> None:
    """A reload shows the same conversation, in the same session, ready for the next answer."""
    before = page.log()
    session = page.session_id()
    page.open()
    WebDriverWait(page.driver, 15).until(lambda _: page.log() == before)
    assert page.session_id() == session
    WebDriverWait(page.driver, 15).until(lambda _: page.driver.execute_script(
        "return document.querySelector('[data-chat-status]').textContent") == "")


def test_a_whole_screening_on_the_study_page(browser, site_url, stack):
    page = StudyPage(browser, f"{site_url}/trials/{TRIAL}")
    page.viewport(PHONE)
    page.open(fresh=True)
    page.wait_for_turn(0)
    assert any("not a diagnosis" in t for t in page.bot_texts())
    assert page.quick_replies() == ["Yes, let's start", "No, thanks"]
    page.screenshot("phone-top", PHONE)

    # Labels, live region, status line: what a screen reader relies on.
    field = browser.find_element(By.ID, "chat-input")
    assert browser.execute_script("return arguments[0].labels[0].textContent", field) == (
        "Your answer")
    log = browser.find_element(By.CSS_SELECTOR, "[data-chat-log]")
    assert (log.get_attribute("role"), log.get_attribute("aria-live")) == ("log", "polite")
    assert browser.find_element(By.CSS_SELECTOR, "[data-chat-status]").get_attribute(
        "role") == "status"

    page.tap("Yes, let's start")
    assert page.focused_id() == "chat-input", "focus returns to the answer field after a tap"
    assert {"from": "user", "text": "Yes, let's start", "replies": []} in page.log()

    asked: list[str] = []
    reloaded = False
    keyboard_for = {"other_autoimmune", "transplant"}
    read_back = 0
    while len(asked) < 40:
        if page.reading_back():  # the typed medicines list, said back with each one's class
            read_back += 1
            page.tap("Yes, that's right")
            continue
        if (qid := page.question()) is None:
            break
        if len(asked) == 8 and not reloaded:
            page.screenshot("phone", PHONE, scroll_to="#chat")
            reload_and_carry_on(page)
            reloaded = True
            continue
        asked.append(qid)
        answer(page, qid, keyboard_for)
        assert page.focused_id() == "chat-input"
    assert reloaded and len(asked) > 20 and read_back >= 1
    assert any("may be able to take part" in t for t in page.bot_texts())
    assert TYPING in browser.execute_script("return window.__statuses")

    page.tap("Yes")
    for text in ["Ana", "Lopez", "ana.lopez@example.com", "+86 138 0013 8002"]:
        page.type(text)
    page.tap("No, English is fine")
    assert any("Please check your details" in t for t in page.bot_texts())
    page.tap("Yes, that's right")
    page.tap("Yes, I agree", until=page.says("We have submitted the contact information"))

    with session_scope(stack.database_url) as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == page.session_id())
        ).scalar_one()
        lead = session.execute(
            select(Lead).where(Lead.screening_id == screening.id)).scalar_one()
        assert screening.channel == "socketio" and screening.trial_id == TRIAL
        assert (lead.first_name, lead.last_name, lead.email) == (
            "Ana", "Lopez", "ana.lopez@example.com")

    page.screenshot("desktop", DESKTOP)
    page.screenshot("phone-end", PHONE, scroll_to="#chat")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_start_over_asks_first_then_begins_a_new_conversation_on_the_page(browser, site_url):
    page = StudyPage(browser, f"{site_url}/trials/{TRIAL}")
    page.viewport(DESKTOP)
    page.open(fresh=True)
    page.wait_for_turn(0)
    page.tap("Yes, let's start")
    assert page.question() == "diagnosis"
    before = len(page.log())
    browser.find_element(By.CSS_SELECTOR, "[data-chat-restart]").click()
    page.wait_for_turn(before, until=lambda: page.quick_replies() == ["Yes", "No"])
    assert page.bot_texts()[-1] == (
        "Start again from the beginning? The answers you gave so far will be set aside.")
    page.tap("Yes", until=lambda: page.quick_replies() == ["Yes, let's start", "No, thanks"])
    texts = page.bot_texts()
    restarted = texts.index("OK, let's start again from the beginning.")
    assert any("not a diagnosis" in t for t in texts[restarted:])
    assert page.focused_id() == "chat-input"


def test_the_rendered_page_meets_contrast_and_loads_nothing_from_elsewhere(
    browser, site_url, stack
):
    page = StudyPage(browser, f"{site_url}/")
    page.viewport(DESKTOP)
    page.open(fresh=True)
    page.wait_for_turn(0)
    page.tap("Yes, let's start")  # a message of the patient's too, for its colours
    checked = browser.execute_script(COLOURS, [
        "body", "h1", ".eyebrow", ".badge--open", ".summary", "[data-start-chat]",
        ".msg--bot .msg__text", ".msg--user .msg__text", ".quick-reply", ".chat__intro",
        ".chat__hint", "label[for=chat-input]", ".chat__form .button", ".facts dt", ".facts dd",
        ".faq summary", ".page-footer",
    ])
    assert len(checked) >= 14
    for selector, colour, background in checked:
        ratio = contrast(rgb(colour), rgb(background))
        assert ratio >= 4.5, f"{selector}: {colour} on {background} is {ratio:.2f}:1"

    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"
    )
    allowed = {site_url, stack.rasa_url}
    assert origins and set(origins) <= allowed, set(origins) - allowed
