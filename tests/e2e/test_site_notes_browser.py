"""Private notes on the study page, in headless Chromium, the way a reader makes and shares them:
select text with the mouse, add a note beside it, add another with the keyboard alone, see and
remove them, keep them through a reload, share them behind a passcode, and open the link in a
fresh browser profile: refused with a wrong passcode, shown with the right one. At 320 px wide
nothing scrolls sideways. axe-core finds no violation with the note dialog open, with the share
dialog open, and on the link's page. Screenshots go to artifacts/screenshots/.

The study page is served by ``python -m bot site`` on a store of the test's own. No Rasa is
started: the notes do not use it (the chat widget shows it is not connected).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from bot import crypto
from bot.db import dispose_all, init_db, session_scope
from bot.deploy.services import free_port, site_process, wait_for_http
from bot.models import NoteShare
from bot.settings import PROJECT_ROOT
from tests.e2e.test_console_browser import no_axe_violation
from tests.e2e.test_site_browser import SCREENSHOTS, chromium

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TRIAL = "NCT06675422"
DESKTOP = (1280, 900)
NARROW = (320, 640)
PASSCODE = "kingfisher-2026"
FIRST_NOTE = "Ask Dr Li whether my 10 mg prednisone counts (ref {mark})"
SECOND_NOTE = "Kidney results from March: bring them <b>not bold</b> (ref {mark})"


class Site:
    def __init__(self, url: str, database_url: str, log: Path) -> None:
        self.url = url
        self.database_url = database_url
        self.log = log

    def shares(self) -> int:
        with session_scope(self.database_url) as session:
            return session.execute(select(func.count()).select_from(NoteShare)).scalar_one()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``python -m bot site`` on its own SQLite store and data key; its output kept in a file."""
    base = tmp_path_factory.mktemp("notes-site")
    database_url = f"sqlite:///{base / 'prescreen.db'}"
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "DATA_KEYS": crypto.new_key(),
        "DATA_KEY_FILE": str(base / "unused-key-file"),
        "DOTENV_DISABLED": "1",
        "NOTES_SHARE_HOURS": "48",
        "PYTHONPATH": str(PROJECT_ROOT),
    })
    previous = {k: os.environ.get(k) for k in ("DATA_KEYS", "DATA_KEY_FILE")}
    os.environ.update({k: env[k] for k in previous})
    crypto.forget_keys()
    init_db(database_url)
    port = free_port()
    process = site_process(port, free_port())  # a Rasa port nothing listens on
    log = base / "site.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(process.args, cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(process.health_url, 60, proc)
        yield Site(f"http://127.0.0.1:{port}", database_url, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        dispose_all()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        crypto.forget_keys()


def viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
    })


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    time.sleep(0.3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"notes-{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000
    return path


def sideways(driver: webdriver.Chrome) -> int:
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def drag_select(driver: webdriver.Chrome, element, fraction: float = 0.6) -> str:
    """Select part of the element's first line with the mouse, as a reader does; the text."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    width, height = element.size["width"], element.size["height"]
    line = driver.execute_script(
        "return parseFloat(getComputedStyle(arguments[0]).lineHeight) || 24", element)
    y = int(-height / 2 + line / 2)
    ActionChains(driver).move_to_element_with_offset(element, int(-width / 2 + 2), y) \
        .click_and_hold().move_by_offset(int(width * fraction), 0).release().perform()
    selected = driver.execute_script("return window.getSelection().toString()")
    assert len(selected.strip()) >= 5, selected
    return " ".join(selected.split())


def float_button(driver: webdriver.Chrome):
    button = driver.find_element(By.CSS_SELECTOR, "[data-notes-float]")
    WebDriverWait(driver, 5).until(lambda _: button.is_displayed())
    return button


def notes_shown(driver: webdriver.Chrome) -> list[dict[str, str]]:
    return driver.execute_script("""
      return Array.from(document.querySelectorAll('[data-notes-list] .note')).map(li => ({
        quote: li.querySelector('blockquote').textContent,
        note: li.querySelector('.note__text').textContent}));""")


def status(driver: webdriver.Chrome) -> str:
    element = driver.find_element(By.CSS_SELECTOR, "[data-notes-status]")
    WebDriverWait(driver, 5).until(lambda _: element.text.strip())
    return element.text


def requests_to_notes(driver: webdriver.Chrome) -> list[str]:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => new URL(n).pathname.startsWith('/notes'))")


def test_a_reader_makes_notes_and_shares_them_behind_a_passcode(site):
    mark = f"{time.time_ns():x}"[-10:]
    first, second = FIRST_NOTE.format(mark=mark), SECOND_NOTE.format(mark=mark)
    with chromium() as reader:
        viewport(reader, DESKTOP)
        reader.get(f"{site.url}/trials/{TRIAL}")
        section = reader.find_element(By.ID, "notes")
        WebDriverWait(reader, 10).until(lambda _: section.is_displayed())
        assert reader.find_element(By.CSS_SELECTOR, "[data-notes-empty]").is_displayed()

        # 1. With the mouse: select a piece of the summary, "Add a note" appears beside it.
        quote = drag_select(reader, reader.find_element(By.CSS_SELECTOR, ".hero .summary"))
        button = float_button(reader)
        assert button.text == "Add a note"
        button.click()
        dialog = reader.find_element(By.CSS_SELECTOR, "[data-note-dialog]")
        assert dialog.get_attribute("open") is not None
        assert reader.find_element(By.CSS_SELECTOR, "[data-note-quote]").text == quote
        assert reader.switch_to.active_element.get_attribute("id") == "note-text"
        reader.switch_to.active_element.send_keys(first)
        no_axe_violation(reader, "study page with the note dialog open")
        screenshot(reader, "dialog-desktop")
        reader.find_element(By.CSS_SELECTOR, "[data-note-form] button[type=submit]").click()
        WebDriverWait(reader, 5).until(lambda _: dialog.get_attribute("open") is None)
        assert status(reader) == "Your note was saved in this browser."
        assert notes_shown(reader) == [{"quote": quote, "note": first}]

        # 2. With the keyboard: with nothing selected the button says what to do first ...
        add = reader.find_element(By.CSS_SELECTOR, "[data-notes-add]")
        reader.execute_script("window.getSelection().removeAllRanges(); arguments[0].focus()", add)
        reader.switch_to.active_element.send_keys(Keys.ENTER)
        assert status(reader) == "First select some text in the study's information on this page."
        assert dialog.get_attribute("open") is None
        # ... and with a selection in the description it opens the dialog on it.
        description = reader.find_element(By.CSS_SELECTOR, "#description-heading ~ p")
        second_quote = drag_select(reader, description, 0.4)
        reader.execute_script("arguments[0].focus()", add)
        reader.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(reader, 5).until(lambda _: dialog.get_attribute("open") is not None)
        assert reader.find_element(By.CSS_SELECTOR, "[data-note-quote]").text == second_quote
        reader.switch_to.active_element.send_keys(second)
        reader.switch_to.active_element.send_keys(Keys.TAB)
        assert reader.switch_to.active_element.text == "Save the note"
        reader.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(reader, 5).until(lambda _: dialog.get_attribute("open") is None)
        assert reader.switch_to.active_element == add, "focus goes back to the button"
        assert [n["note"] for n in notes_shown(reader)] == [first, second]

        # 3. A third note, removed again; an empty note is not saved.
        drag_select(reader, reader.find_element(By.CSS_SELECTOR, "#overview-heading ~ p"))
        float_button(reader).click()
        reader.find_element(By.CSS_SELECTOR, "[data-note-form] button[type=submit]").click()
        assert reader.find_element(By.CSS_SELECTOR, "[data-note-error]").text == (
            "Write something in the note first.")
        reader.switch_to.active_element.send_keys("to be removed")
        reader.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
        assert len(notes_shown(reader)) == 3
        remove = reader.find_elements(By.CSS_SELECTOR, ".note__remove")[2]
        assert remove.get_attribute("aria-label").startswith("Remove the note on “")
        remove.click()
        assert [n["note"] for n in notes_shown(reader)] == [first, second]

        # Kept in this browser only: through a reload, and nothing sent anywhere yet.
        reader.refresh()
        WebDriverWait(reader, 10).until(lambda _: len(notes_shown(reader)) == 2)
        assert requests_to_notes(reader) == [] and site.shares() == 0
        stored = reader.execute_script(
            f"return JSON.parse(localStorage.getItem('prescreen-notes:{TRIAL}'))")
        assert [n["note"] for n in stored] == [first, second]
        screenshot(reader, "list-desktop")

        # 4. At 320 px: no sideways scroll, with the controls and with a dialog open.
        viewport(reader, NARROW)
        reader.refresh()
        WebDriverWait(reader, 10).until(lambda _: len(notes_shown(reader)) == 2)
        assert sideways(reader) <= 0
        drag_select(reader, reader.find_element(By.CSS_SELECTOR, ".hero .summary"), 0.9)
        button = float_button(reader)
        left, right = reader.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", button)
        assert left >= 0 and right <= NARROW[0], (left, right)
        assert sideways(reader) <= 0
        screenshot(reader, "select-320")
        button.click()
        assert sideways(reader) <= 0
        screenshot(reader, "dialog-320")
        reader.find_element(By.CSS_SELECTOR, "[data-note-dialog] [data-dialog-close]").click()
        share = reader.find_element(By.CSS_SELECTOR, "[data-notes-share]")
        reader.execute_script("arguments[0].scrollIntoView({block: 'center'})", share)
        assert sideways(reader) <= 0
        screenshot(reader, "list-320")

        # 5. Share: the passcode's rules are said and checked, then the link is made.
        share.click()
        share_dialog = reader.find_element(By.CSS_SELECTOR, "[data-share-dialog]")
        assert share_dialog.get_attribute("open") is not None
        assert "At least 8 characters." in share_dialog.text
        assert "for 48 hours" in share_dialog.text
        passcode = reader.find_element(By.ID, "share-passcode")
        again = reader.find_element(By.ID, "share-passcode-again")
        create = reader.find_element(By.CSS_SELECTOR, "[data-share-submit]")
        error = reader.find_element(By.CSS_SELECTOR, "[data-share-error]")
        passcode.send_keys("short")
        create.click()
        assert error.text == "The passcode needs at least 8 characters."
        passcode.clear()
        passcode.send_keys(PASSCODE)
        again.send_keys(PASSCODE + "x")
        create.click()
        assert error.text == "The two passcodes are not the same."
        assert site.shares() == 0
        no_axe_violation(reader, "study page with the share dialog open")
        screenshot(reader, "share-320")
        again.clear()
        again.send_keys(PASSCODE)
        create.click()
        link_field = reader.find_element(By.CSS_SELECTOR, "[data-share-link]")
        WebDriverWait(reader, 20).until(lambda _: link_field.is_displayed())
        link = link_field.get_attribute("value")
        assert re.fullmatch(rf"{re.escape(site.url)}/notes/[A-Za-z0-9_-]{{43}}", link), link
        assert reader.find_element(By.CSS_SELECTOR, "[data-share-message]").text.startswith(
            "Your link is ready. It works until ")
        assert passcode.get_attribute("value") == "" and sideways(reader) <= 0
        screenshot(reader, "shared-320")
        assert site.shares() == 1

    # 6. The person the link was sent to, in a browser that has never seen the page.
    with chromium() as friend:
        viewport(friend, NARROW)
        friend.get(link)
        assert friend.execute_script("return localStorage.length") == 0
        assert friend.find_element(By.TAG_NAME, "h1").text == "Notes shared with you"
        assert mark not in friend.page_source
        asking = friend.find_element(By.TAG_NAME, "main").text
        assert f"on the study page for trial {TRIAL}." in asking
        assert sideways(friend) <= 0
        no_axe_violation(friend, "the link's page, asking for the passcode")
        screenshot(friend, "link-320")
        friend.find_element(By.ID, "passcode").send_keys("kingfisher-2025", Keys.ENTER)
        problem = friend.find_element(By.CSS_SELECTOR, "[data-share-problem]")
        assert problem.text == (
            "That passcode is not right. Wrong tries left before the link locks: 4.")
        main = friend.find_element(By.TAG_NAME, "main").text
        assert f"for trial {TRIAL}." in main and "This link works until" in main
        assert mark not in friend.page_source
        assert friend.find_element(By.ID, "passcode").get_attribute("aria-invalid") == "true"
        no_axe_violation(friend, "the link's page after a wrong passcode")
        screenshot(friend, "link-wrong-320")
        friend.find_element(By.ID, "passcode").send_keys(PASSCODE, Keys.ENTER)
        shown = friend.execute_script("""
          return Array.from(document.querySelectorAll('[data-shared-notes] .note')).map(li => ({
            quote: (li.querySelector('blockquote') || {}).textContent,
            note: li.querySelector('.note__text').textContent}));""")
        assert shown == [{"quote": quote, "note": first}, {"quote": second_quote, "note": second}]
        # The note's markup is its text, not the page's.
        assert friend.find_elements(By.CSS_SELECTOR, "[data-shared-notes] b") == []
        assert "not by the study team" in friend.find_element(By.TAG_NAME, "main").text
        assert sideways(friend) <= 0
        no_axe_violation(friend, "the link's page showing the notes")
        screenshot(friend, "link-shown-320")
        viewport(friend, DESKTOP)
        screenshot(friend, "link-shown-desktop")
        # In Chinese: the page asks again (nothing is kept between visits), in Chinese.
        viewport(friend, NARROW)
        friend.get(f"{link}?lang=zh")
        assert friend.find_element(By.TAG_NAME, "h1").text == "分享给您的笔记"
        assert friend.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh"
        assert mark not in friend.page_source and sideways(friend) <= 0
        no_axe_violation(friend, "the link's page in Chinese")
        screenshot(friend, "link-zh-320")

    # Nothing of the notes or the passcode in the site's output.
    output = site.log.read_text(encoding="utf-8", errors="replace")
    for secret in (mark, PASSCODE, link.rsplit("/", 1)[1], quote[:30]):
        assert secret not in output
    assert not re.search(r"Traceback|ERROR", output), output[-2000:]


def test_notes_in_chinese_on_a_narrow_phone_and_never_on_the_chat(site):
    with chromium() as reader:
        viewport(reader, NARROW)
        reader.get(f"{site.url}/trials/{TRIAL}?lang=zh")
        section = reader.find_element(By.ID, "notes")
        WebDriverWait(reader, 10).until(lambda _: section.is_displayed())
        assert reader.find_element(By.ID, "notes-heading").text == "我的笔记"
        # Text in the chat is the conversation, not the study's information: no note on it.
        # (On a phone the chat's intro is hidden to give the conversation room: its heading is
        # the chat's text in view.)
        drag_select(reader, reader.find_element(By.ID, "chat-heading"), 0.95)
        time.sleep(0.3)
        assert not reader.find_element(By.CSS_SELECTOR, "[data-notes-float]").is_displayed()
        add = reader.find_element(By.CSS_SELECTOR, "[data-notes-add]")
        reader.execute_script("arguments[0].focus()", add)
        reader.switch_to.active_element.send_keys(Keys.ENTER)
        assert status(reader) == "请先在本页的研究信息中选中一段文字。"

        quote = drag_select(reader, reader.find_element(By.CSS_SELECTOR, ".hero .summary"), 0.9)
        button = float_button(reader)
        assert button.text == "添加笔记"
        button.click()
        assert reader.find_element(By.CSS_SELECTOR, "[data-note-quote]").text == quote
        reader.switch_to.active_element.send_keys("问医生我的激素剂量")
        assert sideways(reader) <= 0
        no_axe_violation(reader, "the Chinese study page with the note dialog open")
        screenshot(reader, "zh-dialog-320")
        reader.switch_to.active_element.send_keys(Keys.TAB, Keys.ENTER)
        assert status(reader) == "您的笔记已保存在这个浏览器中。"
        assert notes_shown(reader) == [{"quote": quote, "note": "问医生我的激素剂量"}]
        reader.find_element(By.CSS_SELECTOR, "[data-notes-share]").click()
        dialog = reader.find_element(By.CSS_SELECTOR, "[data-share-dialog]")
        assert "至少 8 个字符" in dialog.text and "48 小时" in dialog.text
        assert sideways(reader) <= 0
        no_axe_violation(reader, "the Chinese study page with the share dialog open")
        screenshot(reader, "zh-share-320")
