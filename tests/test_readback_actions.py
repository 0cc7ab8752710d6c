"""What a patient sees when their answer would end the screening: the bot says what it understood
and waits for "yes, that's right" before ruling anyone out. Actions are called with the JSON
tracker Rasa sends, against a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.screening import ActionAskAnswer, ActionCorrectAnswer, ValidateScreeningForm
from bot import screenings
from bot.db import session_scope
from bot.engine import Answer
from bot.models import AnswerRow, Screening
from bot.questions import Interpretation
from tests.test_actions import SENDER, current_question, reply, start
from tests.trackers import run, slot_events, texts, tracker_dict


def stored_answers() -> dict:
    """The answers that count (a read-back's answer counts once confirmed), by question id."""
    with session_scope() as session:
        rows = session.execute(
            select(AnswerRow).join(Screening).where(
                Screening.conversation_id == SENDER,
                AnswerRow.superseded_at.is_(None),
                AnswerRow.pending.is_(False),
            )
        ).scalars()
        return {r.question_id: r for r in rows}


TAP_YES = '/inform{"answer": "yes"}'
TAP_NO = '/inform{"answer": "no"}'


async def answer_until(question_id: str, answers: dict[str, str]) -> None:
    """Answer the bot's questions from ``answers`` until it asks ``question_id``."""
    for _ in range(40):
        snap = screenings.snapshot(SENDER)
        asked = snap.asking.id
        if asked == question_id:
            return
        events, _ = await reply(answers[asked])
        snap = screenings.snapshot(SENDER)
        if snap.pending is not None:
            await reply(TAP_YES)
    raise AssertionError(f"{question_id} was never asked")


FINE = {
    "diagnosis": TAP_YES, "age": "40", "lupus_meds": '/inform{"answer": "none"}',
}
QUALIFYING = {
    "diagnosis": TAP_YES, "age": "40", "lupus_meds": "prednisone and cellcept",
    "steroid_dose": "10 mg", "treatment_duration": "a year", "dose_stable": TAP_YES,
    "lupus_active": TAP_YES, "other_autoimmune": TAP_NO, "symptoms": TAP_YES, "antibodies": TAP_YES,
    "sex": '/inform{"answer": "female"}', "pregnant": TAP_NO, "could_be_pregnant": TAP_NO,
    "breastfeeding": TAP_NO,
}


async def test_a_typed_answer_that_would_rule_out_is_read_back_before_it_counts(database_url):
    await start()
    await answer_until("age", QUALIFYING)
    events, messages = await reply("I'm 80")
    assert slot_events(events).get("screening_outcome") is None  # not decided yet
    asked = await current_question()
    assert texts(asked) == "So you are 80 years old. Is that right?"
    assert [b["title"] for b in asked[-1]["buttons"]] == [
        "Yes, that's right", "No, let me answer again"
    ]
    assert "age" not in stored_answers()  # kept, but not counted
    snap = screenings.snapshot(SENDER)
    assert snap.pending is not None and snap.pending.raw_text == "I'm 80"

    events, _ = await reply(TAP_YES)
    assert slot_events(events)["screening_outcome"] == "not_eligible"
    assert stored_answers()["age"].value == 80


async def test_a_read_back_the_patient_says_is_wrong_asks_the_question_again(database_url):
    await start()
    await answer_until("age", QUALIFYING)
    await reply("80")
    events, messages = await reply(TAP_NO)
    assert "try that question again" in texts(messages)
    asked = await current_question()
    assert "How old are you?" in texts(asked)
    events, _ = await reply("40")
    assert slot_events(events).get("screening_outcome") is None
    assert stored_answers()["age"].value == 40


async def test_a_new_answer_typed_at_the_read_back_is_read_afresh(database_url):
    await start()
    await answer_until("age", QUALIFYING)
    await reply("80")
    await reply("sorry I meant 50")
    assert screenings.snapshot(SENDER).pending is None
    assert stored_answers()["age"].value == 50


async def test_a_tapped_knockout_needs_no_read_back(database_url):
    await start()
    events, _ = await reply(TAP_NO)  # "Has a doctor told you that you have lupus?"
    assert slot_events(events)["screening_outcome"] == "not_eligible"


async def test_progress_shows_where_the_patient_is(database_url):
    await start()
    first = texts(await current_question())
    assert first.startswith("Question 1 of about ")
    await reply(TAP_YES)
    assert texts(await current_question()).startswith("Question 2 of about ")


async def test_an_unclear_answer_is_asked_again_with_help_then_kept_for_the_site(database_url):
    await start()
    events, messages = await reply("the purple one")
    assert "didn't quite understand" in texts(messages)
    state_attempts = slot_events(events)["attempts"]
    assert state_attempts == 1
    state = tracker_dict(SENDER, "banana", active_loop="screening_form",
                         slots={"requested_slot": "answer", "attempts": 1},
                         set_slots={"answer": "banana"})
    events, messages = await run(ValidateScreeningForm(), state)
    assert "keep what you wrote for the study team" in texts(messages)
    kept = stored_answers()["diagnosis"]
    assert kept.unsure and kept.raw_text == "banana"
    assert screenings.snapshot(SENDER).evaluation.next_question.id != "diagnosis"


async def test_the_age_is_asked_again_until_given(database_url):
    await start()
    await answer_until("age", QUALIFYING)
    state = tracker_dict(SENDER, "not sure", active_loop="screening_form",
                         slots={"requested_slot": "answer", "attempts": 3},
                         set_slots={"answer": "not sure"})
    events, messages = await run(ValidateScreeningForm(), state)
    assert "age" not in stored_answers()
    assert "Not sure" not in str(messages)


async def test_a_medicines_list_with_its_dose_is_read_back_and_the_dose_not_asked_again(
    database_url,
):
    await start()
    await answer_until("lupus_meds", QUALIFYING)
    await reply("pred 10mg and MMF")
    said = texts(await current_question())
    assert "prednisone, a steroid" in said and "an immunosuppressant" in said
    await reply(TAP_YES)
    answers = stored_answers()
    assert answers["lupus_meds"].value == ["prednisone", "mycophenolate_mofetil"]
    assert answers["steroid_dose"].value == 10
    assert screenings.snapshot(SENDER).evaluation.next_question.id == "treatment_duration"


async def test_a_correction_that_would_rule_out_is_read_back_too(database_url):
    await start()
    await answer_until("other_autoimmune", QUALIFYING)
    state = tracker_dict(SENDER, "actually I'm 80", "correct", active_loop="screening_form")
    events, messages = await run(ActionCorrectAnswer(), state)
    assert "changed that" not in texts(messages)
    assert texts(await current_question()) == "So you are 80 years old. Is that right?"
    events, _ = await reply(TAP_YES)
    assert slot_events(events)["screening_outcome"] == "not_eligible"


async def test_nothing_is_asked_while_the_screening_is_over(database_url):
    await start()
    await reply(TAP_NO)
    _, messages = await run(ActionAskAnswer(), tracker_dict(SENDER, ""))
    assert messages == []


async def test_a_reply_of_digits_that_are_not_ascii_is_asked_again_not_a_crash(database_url):
    await start()
    for text in ("²", "①", "٣", "9" * 5000):
        events, messages = await reply(text)
        assert messages, f"no reply to {text[:10]!r}"


async def test_a_typed_no_at_the_read_back_is_a_no_whatever_nlu_made_of_it(database_url):
    await start()
    await answer_until("age", QUALIFYING)
    await reply("80")
    # NLU may read "no, that's wrong" as a correction: it still answers the read-back.
    state = tracker_dict(SENDER, "no, that's wrong", "correct", active_loop="screening_form")
    _, messages = await run(ActionCorrectAnswer(), state)
    assert "try that question again" in texts(messages)
    assert screenings.snapshot(SENDER).pending is None
    assert "age" not in stored_answers()


async def test_an_answer_read_as_a_correction_answers_the_question_asked(database_url):
    await start()
    await answer_until("lupus_crisis", {**QUALIFYING, **{q: TAP_NO for q in (
        "guardian", "other_autoimmune", "brain_condition", "active_infection",
        "transplant", "heart_problem", "severe_lung", "cancer", "recurrent_infections",
        "high_dose_steroids", "dialysis", "hiv", "live_vaccine", "substance_use",
        "other_study_drug")}})
    before = stored_answers()["lupus_active"].value
    text = "yes, a kidney flare last month and it's still not under control"
    state = tracker_dict(SENDER, text, "correct", active_loop="screening_form")
    _, messages = await run(ActionCorrectAnswer(), state)
    assert "changed that" not in texts(messages)
    answers = stored_answers()
    assert answers["lupus_active"].value == before
    assert "lupus_crisis" in answers


async def test_a_reply_is_not_taken_for_medicines_the_bot_does_not_know(database_url):
    await start()
    await answer_until("active_infection", {**QUALIFYING, **{q: TAP_NO for q in (
        "guardian", "other_autoimmune", "brain_condition")}})
    text = "I had a UTI last month, it's cleared now"
    state = tracker_dict(SENDER, text, "correct", active_loop="screening_form")
    await run(ActionCorrectAnswer(), state)
    snap = screenings.snapshot(SENDER)
    assert snap.pending is None or snap.pending.question_id != "lupus_meds"
    assert stored_answers()["lupus_meds"].value == ["prednisone", "mycophenolate_mofetil"]


async def test_a_dose_answer_read_as_a_stop_or_a_goodbye_is_taken_as_the_answer(database_url):
    from actions.conversation import ActionGoodbye
    from actions.screening import ActionStopScreening

    await start()
    await answer_until("steroid_dose", QUALIFYING)
    state = tracker_dict(SENDER, "I don't take it any more", "stop", active_loop="screening_form")
    events, messages = await run(ActionStopScreening(), state)
    assert "What we keep" not in texts(messages)
    assert {"event": "followup", "name": "screening_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    assert stored_answers()["steroid_dose"].value == 0
    # An explicit stop still stops.
    state = tracker_dict(SENDER, "stop", "stop", active_loop="screening_form")
    _, messages = await run(ActionStopScreening(), state)
    assert "What we keep" in texts(messages)
    assert screenings.snapshot(SENDER).status == "stopped"
    # A goodbye that is not an answer says goodbye.
    _, messages = await run(ActionGoodbye(), tracker_dict(SENDER, "bye", "goodbye"))
    assert "Take care" in texts(messages)


async def test_a_lower_bound_under_the_line_is_left_for_the_site_not_a_knockout(database_url):
    await start()
    await answer_until("treatment_duration", QUALIFYING)
    events, _ = await reply("more than 7 weeks")
    assert slot_events(events).get("screening_outcome") is None
    assert screenings.snapshot(SENDER).pending is None
    kept = stored_answers()["treatment_duration"]
    assert kept.unsure and kept.understood == "more than 7 weeks"
    assert kept.raw_text == "more than 7 weeks"


async def test_no_health_question_is_asked_or_stored_before_an_explicit_yes(database_url):
    from actions.screening import ActionIntroduceStudy, ActionStartScreening

    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    # NLU may read "actually wait" as agreeing: no consent is recorded for it.
    await run(ActionStartScreening(), tracker_dict(SENDER, "actually wait", "affirm"))
    assert not screenings.snapshot(SENDER).consented
    asked = await current_question()
    assert texts(asked) == "Is it OK for me to ask you some questions about your health?"
    _, messages = await reply("sorry I made a mistake", intent="correct")
    assert "clear yes or no" in texts(messages)
    assert stored_answers() == {}
    with pytest.raises(screenings.ConsentMissing):
        screenings.record_answer(
            SENDER, "diagnosis", "yes", Interpretation(Answer("diagnosis", "yes"), "Yes")
        )
    await reply("/affirm")
    assert screenings.snapshot(SENDER).consented
    assert "Has a doctor told you" in texts(await current_question())


async def test_a_no_at_the_consent_question_in_the_form_ends_it_with_nothing_stored(database_url):
    from actions.screening import ActionIntroduceStudy

    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    events, messages = await reply("no thanks")
    assert "Nothing about your health has been asked or stored" in texts(messages)
    assert slot_events(events)["requested_slot"] is None
    assert stored_answers() == {}
