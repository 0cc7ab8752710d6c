"""Whole screenings typed in Chinese through the REST channel of the real Rasa and action
servers: a knockout, a lead, and "not sure" answers, as the English ones are."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import AnswerRow, Lead, Screening
from bot.protocol import get_protocol
from tests.e2e.test_rest_screenings import said
from tests.e2e.test_wechat import LEAD

pytestmark = pytest.mark.e2e

PROTOCOL = get_protocol("NCT06675422")
QUESTION_BY_ZH = {q.text.get("zh"): q.id for q in PROTOCOL.questions}
READ_BACK = "read back"
# Typed, not tapped: the WeChat patient answered two questions with option numbers.
TYPED = {**LEAD, "other_autoimmune": "没有", "hepatitis_syphilis": "不清楚，没查过"}
# Latin letters a Chinese reply may hold: codes and medical abbreviations in capitals (JY231, SLE,
# HIV, anti-dsDNA), units, emails and what the patient typed with digits.
_ALLOWED_LATIN = re.compile(
    r"(?:anti-?)?ds[A-Z]+|(?<![A-Za-z])[A-Z]{2,6}(?![A-Za-z])|NCT\d+|mg"
    r"|[\w.]+@[\w.]+|[A-Za-z]*\d+[A-Za-z]*"
)


def question_of(replies: list[dict]) -> str | None:
    for message in reversed(replies):
        body = (message.get("text") or "").rstrip()
        if body.endswith("对吗？"):
            return READ_BACK
        if body.split("\n")[-1] in QUESTION_BY_ZH:
            return QUESTION_BY_ZH[body.split("\n")[-1]]
    return None


def english_words(replies: list[dict]) -> list[str]:
    """Words in Latin letters the bot said that are not codes, units or numbers."""
    texts = [m.get("text") or "" for m in replies]
    texts += [b.get("title") or "" for m in replies for b in m.get("buttons") or []]
    return [w for t in texts for w in re.findall(r"[A-Za-z]{3,}", _ALLOWED_LATIN.sub(" ", t))]


def screen_in_chinese(stack, sender: str, answers: dict[str, str]) -> tuple[list[str], list]:
    replies = stack.talk(sender, "你好，我想了解一下这个研究")
    assert "不是诊断" in said(replies)
    spoken = list(replies)
    replies = stack.talk(sender, "好的")
    asked: list[str] = []
    while (qid := question_of(replies)) is not None:
        assert len(asked) < 70, f"the screening did not end: {asked}"
        spoken += replies
        asked.append(qid)
        replies = stack.talk(sender, "对" if qid == READ_BACK else answers[qid])
    return asked, spoken + replies


def rows(stack, sender: str) -> tuple[Screening, Lead | None, dict[str, AnswerRow]]:
    with session_scope(stack.database_url) as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == sender)).scalar_one()
        answers = {a.question_id: a for a in screening.answers if a.superseded_at is None}
        lead = screening.lead
        session.expunge_all()
        return screening, lead, answers


def test_a_knockout_typed_in_chinese_ends_early_kindly_in_chinese(stack):
    patient = {**TYPED, "treatment_duration": "才一个月"}
    asked, replies = screen_in_chinese(stack, "zh-knockout-1", patient)
    assert asked[-2:] == ["treatment_duration", READ_BACK]  # read back before it rules out
    text = said(replies[-3:])
    assert "很抱歉，您不能参加这项研究" in text
    assert english_words(replies) == []
    screening, lead, _ = rows(stack, "zh-knockout-1")
    assert (screening.status, screening.language, lead) == ("not_eligible", "zh", None)


def test_a_patient_who_may_qualify_in_chinese_lands_in_the_queue_in_chinese(stack):
    sender = "zh-lead-1"
    asked, replies = screen_in_chinese(stack, sender, TYPED)
    assert len(asked) > 20 and "您有可能参加这项研究" in said(replies)
    contact = ["好的", "建华", "王", "jianhua.wang@example.com", "13800138000",
               "不用，普通话就可以", "对", "同意"]
    for text in contact:
        replies += stack.talk(sender, text)
    assert "已经把您提供的联系方式提交给" in said(replies)
    assert english_words(replies) == []
    screening, lead, answers = rows(stack, sender)
    assert (screening.language, screening.status) == ("zh", "may_qualify_confirm")
    assert lead is not None and (lead.first_name, lead.last_name) == ("建华", "王")
    assert lead.phone == "+8613800138000"
    assert answers["steroid_dose"].value is not None and answers["age"].value == 34
    # What the patient could not say is kept for the site, not ruled on.
    assert answers["hepatitis_syphilis"].unsure and answers["antibodies"].unsure


def test_not_sure_in_chinese_goes_on_and_is_kept_for_the_site(stack):
    sender = "zh-unsure-1"
    stack.talk(sender, "你好")
    replies = stack.talk(sender, "可以")
    assert question_of(replies) == "diagnosis"
    replies = stack.talk(sender, "我也说不好，医生没说清楚")
    assert question_of(replies) not in (None, "diagnosis")
    _, _, answers = rows(stack, sender)
    assert answers["diagnosis"].unsure
