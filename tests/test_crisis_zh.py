"""Chinese words of crisis show the site's crisis help first, whatever intent the NLU read."""

from __future__ import annotations

import pytest

from actions.conversation import ActionAnswerFaq, ActionDefaultFallback, ActionMedicalAdvice
from actions.screening import (
    ActionIntroduceStudy,
    ActionStartScreening,
    ActionStopScreening,
    ValidateScreeningForm,
)
from tests.trackers import run, texts, tracker_dict

SENDER = "patient-zh"
HELP = "Your safety matters most"


async def start() -> None:
    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "你好", "greet"))
    await run(ActionStartScreening(), tracker_dict(SENDER, "好的", "affirm"))


async def test_chinese_crisis_words_read_as_a_stop_show_help_first(database_url):
    """"不想活了" looks like "不想做了" (stop) to a classifier: help still comes first."""
    await start()
    _, messages = await run(ActionStopScreening(), tracker_dict(
        SENDER, "我不想活了", "stop", active_loop="screening_form"))
    assert HELP in messages[0]["text"]


@pytest.mark.parametrize(("action", "intent", "text"), [
    (ActionMedicalAdvice(), "ask_medical_advice", "吃药也没用，活着没意思"),
    (ActionAnswerFaq(), "faq/safety", "副作用大吗？反正我也想死"),
    (ActionDefaultFallback(), "nlu_fallback", "最近总有轻生的念头"),
])
async def test_chinese_crisis_words_show_help_first_whatever_nlu_read(
    database_url, action, intent, text
):
    await start()
    _, messages = await run(action, tracker_dict(SENDER, text, intent))
    assert HELP in messages[0]["text"]


async def test_chinese_crisis_words_in_an_answer_show_help_first(database_url):
    await start()
    text = "是的，有时候想自杀"
    state = tracker_dict(SENDER, text, "affirm", active_loop="screening_form",
                         slots={"requested_slot": "answer"}, set_slots={"answer": text})
    _, messages = await run(ValidateScreeningForm(), state)
    assert HELP in messages[0]["text"]
    assert texts(messages).count(HELP) == 1


@pytest.mark.parametrize(("action", "intent", "text"), [
    (ActionAnswerFaq(), "faq/safety", "死亡率高吗"),
    (ActionMedicalAdvice(), "ask_medical_advice", "不想吃药可以吗"),
])
async def test_an_ordinary_chinese_question_gets_no_crisis_help(database_url, action, intent, text):
    await start()
    _, messages = await run(action, tracker_dict(SENDER, text, intent))
    assert HELP not in texts(messages)
