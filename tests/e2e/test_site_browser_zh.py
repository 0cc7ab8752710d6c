"""The study page in Chinese, at phone size, in headless Chromium: its language and fonts, no
sideways scrolling, axe-core, and a screening in Chinese with a "not sure" and a knockout."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Screening
from bot.protocol import get_protocol
from tests.e2e.test_console_browser import no_axe_violation
from tests.e2e.test_site_browser import SCREENSHOTS, StudyPage, browser  # noqa: F401 - fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PHONE = (360, 740)
PROTOCOL = get_protocol("NCT06675422")
QUESTION_BY_ZH = {q.text.get("zh"): q.id for q in PROTOCOL.questions}


def question(page: StudyPage) -> str | None:
    for message in reversed(page.log()):
        if message["from"] == "user":
            return None
        text = message["text"].split("\n")[-1].strip()
        if text in QUESTION_BY_ZH:
            return QUESTION_BY_ZH[text]
    return None


def reading_back(page: StudyPage) -> bool:
    log = page.log()
    return bool(log) and log[-1]["from"] == "bot" and log[-1]["text"].rstrip().endswith("对吗？")


def test_the_chinese_page_on_a_phone_screens_in_chinese(browser, site_url, stack):  # noqa: F811
    page = StudyPage(browser, f"{site_url}/?lang=zh")
    page.viewport(PHONE)
    page.open(fresh=True)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang").startswith("zh")
    # A font that has Chinese glyphs is there and is the one the page asks for.
    assert browser.execute_script(
        "return document.fonts.check('16px \"Noto Sans CJK SC\"', '狼疮')")
    family = browser.execute_script(
        "return getComputedStyle(document.querySelector('h1')).fontFamily")
    assert "Noto Sans CJK SC" in family
    wide = browser.execute_script(
        "return document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls {wide} px sideways at {PHONE[0]} px"
    no_axe_violation(browser, "study page in Chinese")

    page.wait_for_turn(0)
    assert any("不是诊断" in text for text in page.bot_texts())
    page.tap("可以，开始吧", until=lambda: question(page) == "diagnosis")
    page.screenshot("zh-phone-first-question", PHONE)
    page.type("不确定", until=lambda: question(page) not in (None, "diagnosis"))
    assert question(page) == "lupus_meds"
    page.type("我现在什么药都没吃", until=lambda: reading_back(page))
    page.tap("对，没有问题", until=page.says("很抱歉，您不能参加这项研究"))
    time.sleep(0.3)
    page.screenshot("zh-phone-knockout", PHONE, scroll_to=".chat")
    assert (SCREENSHOTS / "site-zh-phone-knockout.png").exists()
    no_axe_violation(browser, "study page in Chinese, after a screening")

    with session_scope(stack.database_url) as session:
        screening = session.execute(
            select(Screening).where(Screening.language == "zh",
                                    Screening.channel == "socketio")
        ).scalars().all()[-1]
        answers = {a.question_id: a for a in screening.answers}
        assert screening.status == "not_eligible"
        assert answers["diagnosis"].unsure
