"""What a patient meets around the questions: unclear replies to the yes/no questions that are not
forms, replies when no question is waiting, the contact form's language question, "start over",
and the offer of news about other trials after the listing's confirmation.

Each action is called with the JSON tracker Rasa would send, against a real database.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from actions.contact import (
    ActionAskContactConsent,
    ActionSaveOptin,
    ActionSubmitLead,
    ActionUseLeadEmail,
    ValidateContactForm,
    ValidateOptinForm,
)
from actions.conversation import ActionCarryOn, ActionDefaultFallback
from actions.screening import ActionConfirmRestart, ActionIntroduceStudy, ActionStopScreening
from bot import screenings
from bot.db import session_scope
from bot.models import OptIn
from tests.test_actions import contact_state, current_question, reply, start
from tests.test_actions import stored_answers as stored
from tests.trackers import run, slot_events, texts, tracker_dict

SENDER = "patient-1"
SITE = "920th Hospital of Joint Logistics Support Force of People's Liberation Army of China"
REWIND = {"event": "rewind", "timestamp": None}


def conversation(*steps: tuple[str, ...], slots: dict[str, Any] | None = None,
                 active_loop: str | None = None) -> dict[str, Any]:
    """A tracker whose events are ``steps``: ("bot", action) or ("user", text, intent).

    The last step is the patient's message the action answers; "bot" steps are followed by the
    listening Rasa logs before each message.
    """
    *earlier, (_, text, intent) = steps
    state = tracker_dict(SENDER, text, intent, slots=slots, active_loop=active_loop)
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
    for step in earlier:
        if step[0] == "bot":
            events.append({"event": "action", "name": step[1]})
        elif step[0] == "user":
            events += [{"event": "action", "name": "action_listen"}, _user(step[1], step[2])]
        else:  # an event as it is, e.g. a fallback's rewind
            events.append(dict(step[1]))  # type: ignore[arg-type]
    events += [{"event": "action", "name": "action_listen"}, _user(text, intent)]
    state["events"] = events
    return state


def _user(text: str, intent: str) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    return {"event": "user", "text": text, "parse_data": parse, "input_channel": "rest"}


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(b["title"], b["payload"]) for b in message.get("buttons") or []]


YES_NO = [("Yes", "/affirm"), ("No", "/deny")]


def tap(value: str) -> str:
    return f'/inform{{"answer": "{value}"}}'


# A patient who may qualify; every question not named here is answered by tapping "No".
QUALIFYING = {
    "diagnosis": tap("yes"), "age": "34", "lupus_meds": "prednisone and cellcept",
    "steroid_dose": "10 mg a day", "treatment_duration": "4 months", "dose_stable": tap("yes"),
    "lupus_active": tap("yes"), "symptoms": tap("yes"), "antibodies": tap("yes"),
    "sex": tap("female"), "guardian": tap("yes"), "guardian_agrees": tap("yes"),
}


async def may_qualify() -> None:
    """Consent, then answer until the engine decides; a read-back of an answer is confirmed."""
    await start()
    for _ in range(80):
        snap = screenings.snapshot(SENDER)
        if getattr(snap, "pending", None) is not None:  # "So you take ... Is that right?"
            await reply(tap("yes"))
            continue
        question = snap.evaluation.next_question
        if question is None:
            assert snap.status in ("may_qualify", "may_qualify_confirm"), snap.status
            return
        await reply(QUALIFYING.get(question.id, tap("no")))
    raise AssertionError("the screening did not end")


# ---- the "No" button of the contact consent -----------------------------------------------------


async def test_the_no_button_at_the_contact_consent_reads_no(database_url):
    _, messages = await run(ActionAskContactConsent(), tracker_dict(SENDER, ""))
    assert [b["title"] for b in messages[-1]["buttons"]] == ["Yes, I agree", "No"]


# ---- unclear replies to a yes/no question that is not a form ------------------------------------


async def test_an_unclear_reply_to_the_contact_question_asks_it_again_with_its_buttons(
    database_url,
):
    state = conversation(("bot", "action_screening_outcome"),
                         ("user", "hmm what would that mean for me", "nlu_fallback"),
                         slots={"screening_outcome": "may_qualify"})
    events, messages = await run(ActionDefaultFallback(), state)
    assert messages[0]["text"] == "Sorry, I didn't understand that."
    assert messages[-1]["text"].startswith(f"Would you like the study team at {SITE} to contact")
    assert buttons(messages[-1]) == YES_NO
    # The reply is forgotten: the rules after the question apply to the next one.
    assert events == [REWIND]


async def test_an_unclear_reply_to_the_other_trials_question_after_a_knockout_asks_it_again(
    database_url,
):
    await start()
    await reply(tap("no"))  # no lupus diagnosis: a knockout
    state = conversation(("bot", "action_screening_outcome"), ("user", "eh?", "inform"),
                         slots={"screening_outcome": "not_eligible"})
    events, messages = await run(ActionDefaultFallback(), state)
    assert "didn't understand" in messages[0]["text"]
    assert messages[-1]["text"] == (
        "Would you like to hear about other clinical trials that may suit you?")
    assert buttons(messages[-1]) == YES_NO
    assert events == [REWIND]


async def test_not_sure_about_being_contacted_is_taken_kindly_and_asked_again(database_url):
    state = conversation(("bot", "action_screening_outcome"), ("user", "not sure yet", "unsure"),
                         slots={"screening_outcome": "may_qualify"})
    _, messages = await run(ActionDefaultFallback(), state)
    assert messages[0]["text"] == "That's fine, there's no hurry."
    assert "contact you" in messages[-1]["text"] and buttons(messages[-1]) == YES_NO


async def test_a_second_unclear_reply_still_gets_the_question_the_bot_asked(database_url):
    """The first fallback was taken back (rewind): the question is still the one pending."""
    state = conversation(
        ("bot", "action_screening_outcome"),
        ("user", "what", "nlu_fallback"), ("bot", "action_default_fallback"), ("event", REWIND),
        ("bot", "action_listen"),
        ("user", "huh", "nlu_fallback"),
        slots={"screening_outcome": "may_qualify"},
    )
    _, messages = await run(ActionDefaultFallback(), state)
    assert "contact you" in messages[-1]["text"] and buttons(messages[-1]) == YES_NO


async def test_an_unclear_reply_to_the_consent_question_asks_it_again(database_url):
    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    state = conversation(("bot", "action_introduce_study"), ("user", "wat", "nlu_fallback"))
    _, messages = await run(ActionDefaultFallback(), state)
    assert messages[-1]["text"] == "Is it OK for me to ask you some questions about your health?"
    assert buttons(messages[-1]) == [("Yes, let's start", "/affirm"), ("No, thanks", "/deny")]


# ---- a reply when no question is waiting --------------------------------------------------------


async def test_a_reply_after_the_screening_ended_is_told_where_the_patient_is(database_url):
    await start()
    await reply(tap("no"))  # a knockout
    state = conversation(("bot", "action_screening_outcome"), ("user", "no", "deny"),
                         ("bot", "action_optin_declined"), ("user", "asdfgh", "nlu_fallback"),
                         slots={"screening_outcome": "not_eligible"})
    events, messages = await run(ActionDefaultFallback(), state)
    said = texts(messages)
    assert "answer the question" not in said
    assert "The questions are finished, so there is nothing you need to answer now." in said
    assert all(not m.get("buttons") for m in messages)
    assert events == [REWIND]


async def test_after_a_lead_the_fallback_says_the_study_team_has_the_details(database_url):
    await may_qualify()
    state = conversation(("bot", "action_submit_lead"), ("user", "no", "deny"),
                         ("bot", "action_optin_declined"), ("user", "qwerty", "nlu_fallback"),
                         slots={"screening_outcome": "may_qualify", "lead_submitted": True})
    _, messages = await run(ActionDefaultFallback(), state)
    assert "the study team has your details" in texts(messages)


async def test_a_reply_before_any_screening_says_how_to_start(database_url):
    state = conversation(("user", "zzz", "nlu_fallback"))
    _, messages = await run(ActionDefaultFallback(), state)
    assert "answer the question" not in texts(messages)
    assert "say hello" in texts(messages)


async def test_a_reply_after_stopping_says_the_answers_are_kept(database_url):
    await start()
    await reply("yes")
    await run(ActionStopScreening(), tracker_dict(SENDER, "stop", "stop",
                                                  active_loop="screening_form"))
    state = conversation(("bot", "action_stop_screening"), ("user", "zzz", "nlu_fallback"))
    _, messages = await run(ActionDefaultFallback(), state)
    assert "Your answers so far are kept. To carry on with the questions, say hello." in texts(
        messages)


# ---- the contact form's language question -------------------------------------------------------


@pytest.mark.parametrize("text", ["maybe", "yes", "yes please", "ok", "12"])
async def test_an_unclear_language_gets_its_own_message_not_the_question_twice(database_url, text):
    events, messages = await run(ValidateContactForm(), contact_state("other_language", text))
    assert slot_events(events)["other_language"] is None
    said = texts(messages)
    assert said == "Sorry, I didn't catch which language you would prefer."
    assert "Would you prefer" not in said  # the form asks the question itself, right after


@pytest.mark.parametrize(("text", "expected"), [
    ("yes, Spanish", "Spanish"), ("I speak Cantonese", "Cantonese"), ("no thanks", ""),
    ("普通话", "普通话"),
])
async def test_a_language_named_with_a_yes_is_understood(database_url, text, expected):
    events, messages = await run(ValidateContactForm(), contact_state("other_language", text))
    assert slot_events(events)["other_language"] == expected and messages == []


# ---- "start over" asks first --------------------------------------------------------------------


async def test_start_over_asks_before_it_sets_the_answers_aside(database_url):
    await start()
    await reply("yes")
    state = tracker_dict(SENDER, "start over", "restart_screening", active_loop="screening_form",
                         slots={"requested_slot": "answer"})
    events, messages = await run(ActionConfirmRestart(), state)
    assert messages[-1]["text"] == (
        "Start again from the beginning? The answers you gave so far will be set aside.")
    assert buttons(messages[-1]) == YES_NO
    # The form waits, so that "yes" is not read as the screening question's answer.
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events]
    assert slot_events(events)["requested_slot"] is None
    assert "diagnosis" in stored()  # nothing is set aside yet
    assert screenings.snapshot(SENDER).status == "in_progress"


async def test_no_to_starting_over_resumes_the_screening_at_the_same_question(database_url):
    await start()
    await reply("yes")
    question = (await current_question())[-1]["text"]
    state = conversation(("bot", "screening_form"),
                         ("user", "start over", "restart_screening"),
                         ("bot", "action_confirm_restart"), ("user", "no", "deny"))
    events, messages = await run(ActionCarryOn(), state)
    assert messages[0]["text"] == "OK, let's carry on where you were."
    assert messages[-1]["text"] == question
    # "start over" and "no" are taken back: the screening form is active again, at its question.
    assert events == [REWIND, REWIND]
    assert "diagnosis" in stored() and screenings.snapshot(SENDER).status == "in_progress"


async def test_no_to_starting_over_after_the_outcome_asks_the_outcome_question_again(
    database_url,
):
    await start()
    await reply(tap("no"))  # a knockout
    state = conversation(("bot", "action_screening_outcome"),
                         ("user", "start over", "restart_screening"),
                         ("bot", "action_confirm_restart"), ("user", "no", "deny"),
                         slots={"screening_outcome": "not_eligible"})
    events, messages = await run(ActionCarryOn(), state)
    assert "other clinical trials" in messages[-1]["text"] and buttons(messages[-1]) == YES_NO
    assert events == [REWIND, REWIND]
    assert screenings.snapshot(SENDER).status == "not_eligible"


async def test_no_to_starting_over_with_nothing_pending_says_nothing_is_lost(database_url):
    await start()
    await reply(tap("no"))  # a knockout
    state = conversation(("bot", "action_optin_declined"),
                         ("user", "start over", "restart_screening"),
                         ("bot", "action_confirm_restart"), ("user", "no", "deny"),
                         slots={"screening_outcome": "not_eligible"})
    _, messages = await run(ActionCarryOn(), state)
    assert messages[0]["text"] == "OK, nothing is lost."
    assert "The questions are finished" in messages[1]["text"]


async def test_an_unclear_reply_to_the_start_over_question_asks_it_again(database_url):
    state = conversation(("bot", "screening_form"), ("user", "start over", "restart_screening"),
                         ("bot", "action_confirm_restart"), ("user", "hmm", "nlu_fallback"))
    _, messages = await run(ActionDefaultFallback(), state)
    assert messages[-1]["text"].startswith("Start again from the beginning?")
    assert buttons(messages[-1]) == YES_NO


# ---- after the listing's confirmation: news of other trials -------------------------------------

LEAD = {"first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
        "phone": "+8613800138000", "other_language": "", "details_confirmed": "yes",
        "contact_consent": "yes"}


async def test_after_the_confirmation_the_bot_offers_news_of_other_trials(database_url):
    await may_qualify()
    events, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=LEAD))
    assert messages[0]["text"].startswith("We have submitted the contact information")
    assert messages[-1]["text"] == "Would you like to be notified about other trials?"
    assert buttons(messages[-1]) == YES_NO
    assert slot_events(events)["lead_submitted"] is True


async def test_no_consent_means_no_offer_of_news(database_url):
    await may_qualify()
    events, messages = await run(ActionSubmitLead(), tracker_dict(
        SENDER, "no", slots={**LEAD, "contact_consent": "no"}))
    assert "notified" not in texts(messages)
    assert "lead_submitted" not in slot_events(events)


async def test_yes_to_news_reuses_the_leads_email_and_asks_only_the_consent(database_url):
    await may_qualify()
    await run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=LEAD))
    slots = {**LEAD, "lead_submitted": True}
    events, messages = await run(ActionUseLeadEmail(), tracker_dict(SENDER, "yes", "affirm",
                                                                     slots=slots))
    assert texts(messages) == (
        "I'll use the email address you gave the study team: maria@example.com.")
    assert slot_events(events) == {"optin_email": "maria@example.com"}
    # The opt-in form validates the pre-filled address when it starts, and asks for nothing else
    # but the consent.
    events, messages = await run(ValidateOptinForm(), tracker_dict(
        SENDER, "yes", "affirm", active_loop="optin_form", slots=slots,
        set_slots={"optin_email": "maria@example.com"}))
    assert slot_events(events)["optin_email"] == "maria@example.com" and messages == []
    _, messages = await run(ActionSaveOptin(), tracker_dict(SENDER, "yes", slots=slots, set_slots={
        "optin_email": "maria@example.com", "optin_consent": "yes"}))
    assert "signed up" in texts(messages)
    with session_scope() as session:
        assert session.execute(select(OptIn)).scalar_one().email == "maria@example.com"


async def test_an_unclear_reply_to_the_offer_of_news_asks_it_again(database_url):
    state = conversation(("bot", "action_submit_lead"), ("user", "pardon?", "nlu_fallback"),
                         slots={**LEAD, "lead_submitted": True})
    _, messages = await run(ActionDefaultFallback(), state)
    assert messages[-1]["text"] == "Would you like to be notified about other trials?"
    assert buttons(messages[-1]) == YES_NO
