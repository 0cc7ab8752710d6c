"""A patient screened in Chinese reads only Chinese; the language follows the page, the first
message and the patient's request, and is kept with the screening, the lead and the email.

Actions are called with the JSON tracker Rasa sends, against a real database, as in
tests/test_actions.py.
"""

from __future__ import annotations

import re

import pytest
import yaml
from sqlalchemy import select

from actions.contact import ActionAskDetailsConfirmed, ActionSubmitLead
from actions.conversation import ActionDefaultFallback
from actions.language import ActionDetectLanguage
from actions.screening import (
    ActionAskAnswer,
    ActionIntroduceStudy,
    ActionRestartScreening,
    ActionScreeningOutcome,
    ActionStartScreening,
    ValidateScreeningForm,
)
from actions.session import ActionSessionStart
from bot import language, mailer, screenings
from bot.db import session_scope
from bot.models import Lead, OutboxMessage, Screening
from tests.trackers import DOMAIN, run, slot_events, texts, tracker_dict

SENDER = "patient-zh"
ZH = {"language": "zh"}
# Latin-script words a Chinese message may carry: the trial's codes, the test and score names
# Chinese clinics use as they are, and units.
ALLOWED_LATIN = {
    "JY231", "NCT06675422", "SLE", "ANA", "DNA", "Sm", "HIV", "COPD", "NYHA", "BILAG", "SLEDAI",
    "2K", "mg", "name", "example", "com", "I", "II",
}


def english_words(text: str) -> list[str]:
    """Latin-script words in ``text`` that are not codes, abbreviations or units."""
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text) if w not in ALLOWED_LATIN]


def shown(messages: list[dict]) -> str:
    """What the patient sees: the messages and their buttons' labels."""
    labels = [b["title"] for m in messages for b in m.get("buttons") or []]
    return "\n".join([texts(messages), *labels])


def zh_state(text: str = "", intent: str = "inform", **kwargs) -> dict:
    slots = {**ZH, **kwargs.pop("slots", {})}
    return tracker_dict(SENDER, text, intent, slots=slots, **kwargs)


async def reply_zh(text: str) -> list[dict]:
    state = zh_state(text, active_loop="screening_form", slots={"requested_slot": "answer"},
                     set_slots={"answer": text})
    _, messages = await run(ValidateScreeningForm(), state)
    return messages


async def ask_zh() -> list[dict]:
    _, messages = await run(ActionAskAnswer(), zh_state(active_loop="screening_form"))
    return messages


# What a patient types in Chinese to the eligible path's questions (tests/test_engine.ELIGIBLE).
TYPED_ZH = {"lupus_meds": "泼尼松和骁悉", "steroid_dose": "每天10毫克",
            "treatment_duration": "4个月", "age": "34"}
YES_NO_ZH = {"yes": "是的", "no": "没有", "female": "女"}


async def screen_in_chinese() -> list[str]:
    """An eligible screening from greeting to 'may qualify', typed in Chinese; all it said."""
    from tests.test_engine import ELIGIBLE

    said: list[str] = []
    _, messages = await run(ActionIntroduceStudy(), zh_state("你好", "greet"))
    said.append(shown(messages))
    _, messages = await run(ActionStartScreening(), zh_state("好的", "affirm"))
    said.append(shown(messages))
    for _ in range(80):
        snap = screenings.snapshot(SENDER)
        if snap.asking is None:
            break
        said.append(shown(await ask_zh()))
        if snap.pending is not None:
            said.append(shown(await reply_zh("对")))
            continue
        value = ELIGIBLE[snap.asking.id]
        typed = TYPED_ZH.get(snap.asking.id) or YES_NO_ZH[value]
        said.append(shown(await reply_zh(typed)))
    assert screenings.snapshot(SENDER).status in ("may_qualify", "may_qualify_confirm")
    _, messages = await run(ActionScreeningOutcome(), zh_state(active_loop="screening_form"))
    said.append(shown(messages))
    return said


async def test_a_screening_in_chinese_says_everything_in_chinese(database_url):
    said = await screen_in_chinese()
    everything = "\n".join(said)
    assert "您好！我是中国人民解放军联勤保障部队第九二〇医院" in everything
    assert "医生有没有告诉过您" in everything  # the first question
    assert "\n是\n否\n不确定" in everything  # its buttons
    assert "您有可能参加这项研究" in everything  # the outcome
    assert "泼尼松（强的松），属于激素" in everything  # the medicines read back by Chinese names
    assert english_words(everything) == []
    with session_scope() as session:
        screening = session.execute(select(Screening)).scalar_one()
        assert screening.language == "zh"
        assert "患者同意" in screening.consent_text


async def test_a_lead_in_chinese_is_kept_with_its_language_and_gets_a_chinese_email(
    database_url, tmp_path
):
    await screen_in_chinese()
    details = {"first_name": "建华", "last_name": "王", "email": "wang@example.com",
               "phone": "+8613800138000", "other_language": ""}
    _, messages = await run(ActionAskDetailsConfirmed(),
                            zh_state(active_loop="contact_form", slots=details))
    assert "姓名：王建华" in texts(messages)
    assert "沟通语言：普通话" in texts(messages)
    slots = {**details, "details_confirmed": "yes", "contact_consent": "yes"}
    _, messages = await run(ActionSubmitLead(), zh_state("同意", set_slots=slots))
    said = texts(messages)
    assert said.startswith("我们已经把您提供的联系方式提交给中国人民解放军联勤保障部队第九二〇医院")
    assert english_words(said) == []
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert lead.screening.language == "zh"
        assert "患者同意将其联系方式" in lead.consent_text
        email = session.execute(select(OutboxMessage)).scalar_one()
        assert email.subject == "您给研究团队的信息：JY231"
        assert email.body.startswith("王建华，您好：")
        assert "JY231注射液治疗活动性系统性红斑狼疮的早期探索性临床研究" in email.body
        assert english_words(email.body.replace("wang@example.com", "")) == []
    assert mailer.send_pending() == (1, 0)


async def test_a_knockout_in_chinese_says_why_in_chinese(database_url):
    await run(ActionIntroduceStudy(), zh_state("你好", "greet"))
    await run(ActionStartScreening(), zh_state("可以", "affirm"))
    await reply_zh("没有")  # no lupus diagnosis: read back first
    said = texts(await ask_zh())
    assert "也就是说，医生没有告诉过您得的是狼疮。 对吗？" in said
    await reply_zh('/inform{"answer": "yes"}')
    _, messages = await run(ActionScreeningOutcome(), zh_state(active_loop="screening_form"))
    said = texts(messages)
    assert "很抱歉，您不能参加这项研究。这项研究只针对经医生确诊的狼疮（SLE）患者。" in said
    assert english_words(said) == []


# ---- choosing the language -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("你好", "zh"), ("我想参加狼疮的研究", "zh"), ("我在吃 prednisone 10mg", "zh"),
    ("hello", "en"), ("Hi, I saw your study", "en"),
])
async def test_the_first_message_sets_the_language(database_url, text, expected):
    events, messages = await run(ActionDetectLanguage(), tracker_dict(SENDER, text, "greet"))
    assert slot_events(events) == {"language": expected}
    assert messages == []  # following the patient needs no announcement


async def test_the_study_page_passes_its_language_with_the_greeting(database_url):
    state = tracker_dict(SENDER, '/greet{"trial": "NCT06675422", "language": "zh-CN"}', "greet")
    state["latest_message"]["entities"] = [{"entity": "language", "value": "zh-CN"}]
    events, _ = await run(ActionDetectLanguage(), state)
    assert slot_events(events) == {"language": "zh"}
    # A channel may pass it as metadata instead.
    state = tracker_dict(SENDER, "hello", "greet")
    state["latest_message"]["metadata"] = {"language": "zh"}
    events, _ = await run(ActionDetectLanguage(), state)
    assert slot_events(events) == {"language": "zh"}


async def test_a_later_message_in_another_script_does_not_switch(database_url):
    state = tracker_dict(SENDER, "泼尼松", slots=ZH)  # an English speaker may type a drug name
    events, _ = await run(ActionDetectLanguage(), state)
    assert events == []
    events, _ = await run(ActionDetectLanguage(), tracker_dict(SENDER, "yes", slots=ZH))
    assert events == []


@pytest.mark.parametrize(("text", "current", "expected", "ack"), [
    ("English please", "zh", "en", "OK, let's speak English."),
    ("english, please!", "zh", "en", "OK, let's speak English."),
    ("说英文", "zh", "en", "OK, let's speak English."),
    ("说中文", "en", "zh", "好的，我们用中文交流。"),
    ("中文", "en", "zh", "好的，我们用中文交流。"),
    ("Chinese please", "en", "zh", "好的，我们用中文交流。"),
])
async def test_the_patient_can_switch_language(database_url, text, current, expected, ack):
    greeting = tracker_dict(SENDER, "hi", "greet", slots={"language": current})
    await run(ActionIntroduceStudy(), greeting)
    state = tracker_dict(SENDER, text, slots={"language": current})
    events, messages = await run(ActionDetectLanguage(), state)
    assert slot_events(events) == {"language": expected}
    assert texts(messages) == ack
    with session_scope() as session:  # the screening is kept in the language switched to
        assert session.execute(select(Screening.language)).scalar_one() == expected


@pytest.mark.parametrize("slot", ["other_language", "first_name", "last_name"])
async def test_a_language_named_as_a_contact_detail_is_not_a_switch(database_url, slot):
    state = tracker_dict(SENDER, "English", active_loop="contact_form",
                         slots={"language": "zh", "requested_slot": slot})
    events, messages = await run(ActionDetectLanguage(), state)
    assert events == [] and messages == []


async def test_a_switch_in_the_middle_of_the_questions_asks_the_same_question_again(database_url):
    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    await run(ActionStartScreening(), tracker_dict(SENDER, "yes", "affirm"))
    state = zh_state("说中文", active_loop="screening_form", slots={"requested_slot": "answer"},
                     set_slots={"answer": "说中文"})
    events, messages = await run(ValidateScreeningForm(), state)
    assert slot_events(events) == {"answer": None}  # no attempt counted, nothing stored
    assert screenings.snapshot(SENDER).answered == 0
    # The form's validation asks the same question again itself, in Chinese (the domain has no
    # action_ask_answer), as action_ask_answer does.
    assert texts(messages) == texts(await ask_zh())
    assert "医生有没有告诉过您，您得的是狼疮" in texts(messages)


async def test_a_switch_after_the_introduction_shows_it_again_in_the_new_language(database_url):
    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    state = zh_state("说中文", "nlu_fallback")
    state["events"].insert(1, {"event": "action", "name": "action_introduce_study"})
    events, messages = await run(ActionDefaultFallback(), state)
    said = texts(messages)
    assert said.startswith("您好！我是") and "我可以问您一些关于健康状况的问题吗？" in said
    assert "抱歉" not in said  # the request was understood
    assert [e["event"] for e in events] == ["rewind"]


async def test_a_trial_without_chinese_says_so_in_chinese_and_screens_in_english(
    database_url, tmp_path, monkeypatch
):
    from tests.test_translations import TRIAL

    raw = yaml.safe_load(TRIAL.read_text(encoding="utf-8"))
    raw["languages"] = ["en"]
    (tmp_path / "NCT06675422.yml").write_text(yaml.safe_dump(raw, allow_unicode=True),
                                               encoding="utf-8")
    monkeypatch.setenv("TRIALS_DIR", str(tmp_path))
    events, messages = await run(ActionDetectLanguage(), tracker_dict(SENDER, "你好", "greet"))
    assert slot_events(events) == {"language": "en"}
    assert texts(messages) == (
        "很抱歉，“the JY231 study for active lupus”的预筛查目前还没有中文版，我们将用英文和您继续。"
    )


async def test_the_language_outlives_a_new_session_and_starting_over(database_url):
    state = tracker_dict(SENDER, "", slots={"language": "zh", "trial_id": "NCT06675422"})
    events, _ = await run(ActionSessionStart(), state)
    assert slot_events(events) == {"trial_id": "NCT06675422", "language": "zh"}
    await run(ActionIntroduceStudy(), zh_state("你好", "greet"))
    events, messages = await run(ActionRestartScreening(), zh_state("重新开始"))
    assert slot_events(events)["language"] == "zh"
    assert texts(messages) == "好的，我们从头开始。"


def test_the_domain_has_a_language_slot_filled_by_the_detecting_action():
    slot = DOMAIN["slots"]["language"]
    assert slot["type"] == "text" and slot["influence_conversation"] is False
    assert slot["mappings"] == [{"type": "custom", "action": "action_detect_language"}]
    assert "action_detect_language" in DOMAIN["actions"]
    assert {"language": {"influence_conversation": False}} in DOMAIN["entities"]


@pytest.mark.parametrize(("text", "expected"), [
    ("说中文。", "zh"), ("说 中文", "zh"), ("ＥＮＧＬＩＳＨ", "en"), ("English please", "en"),
    ("my surname is English", None), ("中文名字叫建华", None), ("/greet", None), ("", None),
])
def test_only_a_whole_message_asking_for_a_language_is_a_request(text, expected):
    assert language.requested(text) == expected


@pytest.mark.parametrize(("slot", "text", "expected"), [
    ("first_name", "建华", "建华"), ("last_name", "欧阳", "欧阳"),
    ("phone", "138 0013 8000", "+8613800138000"), ("phone", "13800138000", "+8613800138000"),
    ("other_language", "不用", ""), ("other_language", "粤语", "粤语"),
    ("details_confirmed", "对", "yes"), ("contact_consent", "同意", "yes"),
])
async def test_the_contact_form_takes_chinese_names_and_mainland_mobiles(
    database_url, slot, text, expected
):
    from actions.contact import ValidateContactForm

    state = zh_state(text, active_loop="contact_form", slots={"requested_slot": slot},
                     set_slots={slot: text})
    events, messages = await run(ValidateContactForm(), state)
    assert slot_events(events)[slot] == expected and messages == []


@pytest.mark.parametrize(("lang", "typed"), [("zh", "不用，普通话就可以"), ("zh", "不用"),
                                             ("en", "No, English is fine")])
async def test_the_no_other_language_button_typed_in_words_means_none(database_url, lang, typed):
    from actions.contact import ValidateContactForm
    from tests.test_actions import contact_state

    state = contact_state("other_language", typed, {"language": lang})
    events, _ = await run(ValidateContactForm(), state)
    assert slot_events(events)["other_language"] == ""
