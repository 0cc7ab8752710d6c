"""Every custom action, called with the JSON tracker Rasa would send, against a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.contact import (
    ActionAskDetailsConfirmed,
    ActionSaveOptin,
    ActionSubmitLead,
    ValidateContactForm,
    ValidateOptinForm,
)
from actions.conversation import (
    ActionAnswerFaq,
    ActionBotChallenge,
    ActionCrisisHelp,
    ActionDefaultFallback,
    ActionGoodbye,
    ActionMedicalAdvice,
    ActionThank,
)
from actions.screening import (
    ActionAskAnswer,
    ActionConsentDeclined,
    ActionCorrectAnswer,
    ActionExplainQuestion,
    ActionIntroduceStudy,
    ActionRestartScreening,
    ActionScreeningOutcome,
    ActionStartScreening,
    ActionStopScreening,
    ValidateScreeningForm,
)
from bot import mailer, screenings
from bot.db import session_scope
from bot.models import AnswerRow, Lead, OptIn, OutboxMessage, Screening
from tests.trackers import run, slot_events, texts, tracker_dict

SENDER = "patient-1"


async def start(sender: str = SENDER, channel: str = "rest") -> None:
    await run(ActionIntroduceStudy(), tracker_dict(sender, "hi", "greet", channel=channel))
    await run(ActionStartScreening(), tracker_dict(sender, "yes", "affirm", channel=channel))


async def reply(text: str, sender: str = SENDER, intent: str = "inform", channel: str = "rest"):
    """The patient replies to the current question; what the form's validation returns."""
    state = tracker_dict(sender, text, intent, active_loop="screening_form", channel=channel,
                         slots={"requested_slot": "answer"}, set_slots={"answer": text})
    return await run(ValidateScreeningForm(), state)


async def current_question(sender: str = SENDER, channel: str = "rest") -> list[dict]:
    _, messages = await run(
        ActionAskAnswer(), tracker_dict(sender, "", active_loop="screening_form", channel=channel)
    )
    return messages


def stored_answers(sender: str = SENDER) -> dict[str, AnswerRow]:
    with session_scope() as session:
        rows = session.execute(
            select(AnswerRow).join(Screening).where(
                Screening.conversation_id == sender,
                Screening.status != "restarted",
                AnswerRow.superseded_at.is_(None),
            )
        ).scalars()
        return {r.question_id: r for r in rows}


async def test_the_greeting_says_what_the_study_is_and_what_is_stored(database_url):
    events, messages = await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    said = texts(messages)
    assert "JY231" in said and "920th Hospital" in said
    assert "not a diagnosis" in said and "What we store" in said
    assert [b["payload"] for b in messages[-1]["buttons"]] == ["/affirm", "/deny"]
    assert slot_events(events)["trial_id"] == "NCT06675422"
    with session_scope() as session:
        screening = session.execute(select(Screening)).scalar_one()
        assert screening.status == "started" and screening.channel == "rest"


async def test_consent_is_recorded_with_its_time_and_wording(database_url):
    await start()
    with session_scope() as session:
        screening = session.execute(select(Screening)).scalar_one()
        assert screening.status == "in_progress"
        assert screening.consented_at is not None
        assert "pre-screen for JY231" in screening.consent_text


async def test_declining_stores_no_health_data(database_url):
    await run(ActionIntroduceStudy(), tracker_dict(SENDER, "hi", "greet"))
    _, messages = await run(ActionConsentDeclined(), tracker_dict(SENDER, "no", "deny"))
    assert "Nothing about your health" in texts(messages)
    assert stored_answers() == {}


async def test_the_first_question_comes_with_yes_no_not_sure_buttons(database_url):
    await start()
    messages = await current_question()
    assert "lupus" in messages[0]["text"]
    assert [b["title"] for b in messages[0]["buttons"]] == ["Yes", "No", "Not sure"]
    assert messages[0]["buttons"][0]["payload"] == '/inform{"answer": "yes"}'


async def test_on_sms_the_options_are_numbered_and_a_number_answers(database_url):
    await start(channel="twilio")
    messages = await current_question(channel="twilio")
    assert "Reply 1 for Yes, 2 for No, 3 for Not sure." in messages[0]["text"]
    # The buttons go along for the transcript and for the connector to map "1" to a payload.
    assert [b["title"] for b in messages[0]["buttons"]] == ["Yes", "No", "Not sure"]
    await reply("1", channel="twilio")
    assert stored_answers()["diagnosis"].value == "yes"


async def test_an_answer_is_stored_before_the_bot_replies_and_the_form_asks_on(database_url):
    await start()
    events, _ = await reply("yes I have lupus")
    slots = slot_events(events)
    assert slots["answer"] is None  # the loop asks the next question
    assert slots["screening_outcome"] is None
    row = stored_answers()["diagnosis"]
    assert row.raw_text == "yes I have lupus" and row.value == "yes"


async def test_a_button_payload_is_taken_exactly(database_url):
    await start()
    await reply('/inform{"answer": "unsure"}')
    row = stored_answers()["diagnosis"]
    assert row.unsure and row.value is None


async def test_a_knockout_ends_the_form_and_says_why_kindly(database_url):
    await start()
    events, _ = await reply('/inform{"answer": "no"}')  # tapped: exact, so no read-back
    assert slot_events(events)["screening_outcome"] == "not_eligible"
    assert slot_events(events)["requested_slot"] is None  # the form ends
    events, messages = await run(ActionScreeningOutcome(), tracker_dict(SENDER, "no"))
    said = texts(messages)
    assert "can't take part in this study" in said
    assert "diagnosed by a doctor" in said
    assert "other clinical trials" in said
    assert "eligible" not in said.lower() and "enrolled" not in said.lower()


async def test_a_yes_to_suicidal_thoughts_shows_help_first(database_url, monkeypatch):
    await start()
    snap = screenings.snapshot(SENDER)
    # Answer everything before the suicide question the engine's way.
    from tests.test_engine import ELIGIBLE

    while snap.asking.id != "suicidal_thoughts":
        if snap.pending is not None:  # a typed medicines list is read back first
            await reply('/inform{"answer": "yes"}')
            snap = screenings.snapshot(SENDER)
            continue
        q = snap.asking
        value = ELIGIBLE[q.id]
        text = {"yes": "yes", "no": "no"}.get(value) if isinstance(value, str) else None
        if text is None:
            text = {"lupus_meds": "prednisone and cellcept", "steroid_dose": "10 mg a day",
                    "treatment_duration": "4 months", "age": "34", "sex": "female"}[q.id]
        await reply(text)
        snap = screenings.snapshot(SENDER)
    events, messages = await reply("yes")
    assert "Your safety matters most" in messages[0]["text"]
    assert "120" in messages[0]["text"]
    with session_scope() as session:
        assert session.execute(select(Screening)).scalar_one().crisis_help_shown


async def test_crisis_words_at_any_time_show_help(database_url):
    await start()
    _, messages = await run(ActionCrisisHelp(), tracker_dict(SENDER, "I want to end my life",
                                                             "express_crisis"))
    assert "emergency" in texts(messages)


async def test_why_do_you_ask_explains_the_current_question(database_url):
    await start()
    _, messages = await run(ActionExplainQuestion(),
                            tracker_dict(SENDER, "why?", "ask_why", active_loop="screening_form"))
    assert texts(messages).startswith("I ask because:")
    assert "diagnosed by a doctor" in texts(messages)


async def test_an_faq_is_answered_from_the_protocol(database_url):
    await start()
    _, messages = await run(ActionAnswerFaq(), tracker_dict(SENDER, "do I get paid?",
                                                            "faq/compensation"))
    assert "Compensation varies per trial" in texts(messages)
    _, messages = await run(ActionAnswerFaq(), tracker_dict(SENDER, "what is jy231",
                                                            "faq/study_treatment"))
    assert "infusion" in texts(messages)


async def test_no_medical_advice(database_url):
    _, messages = await run(ActionMedicalAdvice(), tracker_dict(SENDER, "should I stop prednisone",
                                                                "ask_medical_advice"))
    assert "can't give medical advice" in texts(messages)


async def test_a_correction_changes_an_earlier_answer(database_url):
    await start()
    typed = {"diagnosis": "yes", "lupus_meds": "prednisone and cellcept",
             "steroid_dose": "10mg a day", "treatment_duration": "5 months",
             "dose_stable": "yes", "lupus_active": "yes", "age": "I'm 34"}
    while "age" not in stored_answers():
        snap = screenings.snapshot(SENDER)
        # A typed medicines list is read back: "that's right".
        await reply('/inform{"answer": "yes"}' if snap.pending else typed[snap.asking.id])
    assert stored_answers()["age"].value == 34
    events, messages = await run(
        ActionCorrectAnswer(),
        tracker_dict(SENDER, "actually I'm 46 years old", "correct", active_loop="screening_form"),
    )
    assert "46 years" in texts(messages)
    assert stored_answers()["age"].value == 46
    assert slot_events(events)["screening_outcome"] is None


async def test_a_correction_can_turn_a_knockout_back_into_a_screening(database_url):
    await start()
    await reply('/inform{"answer": "no"}')
    assert screenings.snapshot(SENDER).status == "not_eligible"
    events, _ = await run(
        ActionCorrectAnswer(), tracker_dict(SENDER, "sorry I meant yes, I do have lupus", "correct")
    )
    assert slot_events(events)["screening_outcome"] is None
    assert screenings.snapshot(SENDER).status == "in_progress"


async def test_stopping_keeps_the_partial_screening_and_says_so(database_url):
    await start()
    await reply("yes")
    events, messages = await run(ActionStopScreening(),
                                 tracker_dict(SENDER, "stop", "stop", active_loop="screening_form"))
    assert "What we keep" in texts(messages)
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    assert screenings.snapshot(SENDER).status == "stopped"
    assert "diagnosis" in stored_answers()


async def test_starting_over_opens_a_new_screening(database_url):
    await start()
    await reply("yes")
    await run(ActionRestartScreening(), tracker_dict(SENDER, "start over", "restart_screening"))
    await start()
    assert stored_answers() == {}


# ---- the contact form ----------------------------------------------------------------------------


def contact_state(slot: str, text: str, slots: dict | None = None) -> dict:
    return tracker_dict(SENDER, text, active_loop="contact_form",
                        slots={"requested_slot": slot, **(slots or {})}, set_slots={slot: text})


@pytest.mark.parametrize(
    ("slot", "text", "expected"),
    [
        ("first_name", "my name is maria", "Maria"),
        ("last_name", "García-López", "García-López"),
        ("email", "Maria.Garcia@Example.com", "Maria.Garcia@example.com"),
        ("phone", "+86 138 0013 8000", "+8613800138000"),
        ("other_language", "no", ""),
        ("other_language", "Spanish", "Spanish"),
    ],
)
async def test_contact_fields_are_checked_and_cleaned(database_url, slot, text, expected):
    events, _ = await run(ValidateContactForm(), contact_state(slot, text))
    assert slot_events(events)[slot] == expected


@pytest.mark.parametrize(
    ("slot", "text", "message"),
    [
        ("email", "maria at example", "doesn't look like an email"),
        ("phone", "12", "doesn't look like a phone number"),
        ("first_name", "1234", "using letters"),
    ],
)
async def test_a_bad_contact_field_gets_a_clear_message_and_is_asked_again(
    database_url, slot, text, message
):
    events, messages = await run(ValidateContactForm(), contact_state(slot, text))
    assert slot_events(events)[slot] is None
    assert message in texts(messages)


async def test_details_are_read_back_before_sending(database_url):
    state = tracker_dict(SENDER, "", active_loop="contact_form", slots={
        "first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
        "phone": "+8613800138000", "other_language": ""})
    _, messages = await run(ActionAskDetailsConfirmed(), state)
    said = texts(messages)
    assert "Maria Garcia" in said and "maria@example.com" in said and "+86 138" in said
    assert "Language: English" in said


async def may_qualify(sender: str = SENDER) -> None:
    """Drive a screening to 'may qualify' through the engine."""
    from tests.test_engine import ELIGIBLE

    await start(sender)
    while (q := screenings.snapshot(sender).asking) is not None:
        if screenings.snapshot(sender).pending is not None:  # "So you take... Is that right?"
            await reply('/inform{"answer": "yes"}', sender)
            continue
        value = ELIGIBLE[q.id]
        text = value if value in ("yes", "no", "female") else {
            "lupus_meds": "prednisone and cellcept", "steroid_dose": "10 mg a day",
            "treatment_duration": "4 months", "age": "34"}[q.id]
        await reply(text, sender)
    assert screenings.snapshot(sender).status == "may_qualify"


async def test_a_consenting_patient_lands_in_the_queue_with_an_email_copy(database_url, tmp_path):
    await may_qualify()
    slots = {"first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
             "phone": "+8613800138000", "other_language": "Spanish",
             "details_confirmed": "yes", "contact_consent": "yes"}
    _, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=slots))
    assert messages[0]["text"] == (
        "We have submitted the contact information you provided to the research team at 920th "
        "Hospital of Joint Logistics Support Force of People's Liberation Army of China. A copy of "
        "the message has been sent to your email for your records."
    )
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        assert (lead.email, lead.status, lead.other_language) == (
            "maria@example.com", "new", "Spanish")
        assert "contact them about the study" in lead.consent_text
        outbox = session.execute(select(OutboxMessage)).scalar_one()
        # Queued in the patient's turn, sent by the outbox worker after it.
        assert outbox.sent_at is None and outbox.to_addr == "maria@example.com"
    assert not list((tmp_path / "outbox").glob("*.eml"))
    assert mailer.send_pending() == (1, 0)
    emails = list((tmp_path / "outbox").glob("*.eml"))
    assert len(emails) == 1 and "Maria" in emails[0].read_text()


async def test_the_site_name_can_come_from_the_environment(database_url, monkeypatch):
    monkeypatch.setenv("SITE_NAME", "Lupus Clinic Kunming")
    await may_qualify()
    slots = {"first_name": "Li", "last_name": "Wei", "email": "li@example.com",
             "phone": "+8613800138000", "other_language": "", "details_confirmed": "yes",
             "contact_consent": "yes"}
    _, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "yes", set_slots=slots))
    assert "research team at Lupus Clinic Kunming." in messages[0]["text"]


async def test_no_consent_means_no_lead(database_url):
    await may_qualify()
    slots = {"first_name": "Li", "last_name": "Wei", "email": "li@example.com",
             "phone": "+8613800138000", "details_confirmed": "yes", "contact_consent": "no"}
    _, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "no", slots=slots))
    assert "won't send your details" in texts(messages)
    with session_scope() as session:
        assert session.execute(select(Lead)).scalars().all() == []


async def test_an_opt_in_is_stored_with_the_email_and_consent(database_url):
    await start()
    await reply("no")
    events, _ = await run(ValidateOptinForm(), tracker_dict(
        SENDER, "me@example.org", active_loop="optin_form",
        slots={"requested_slot": "optin_email"}, set_slots={"optin_email": "me@example.org"}))
    assert slot_events(events)["optin_email"] == "me@example.org"
    _, messages = await run(ActionSaveOptin(), tracker_dict(
        SENDER, "yes", set_slots={"optin_email": "me@example.org", "optin_consent": "yes"}))
    assert "signed up" in texts(messages)
    with session_scope() as session:
        optin = session.execute(select(OptIn)).scalar_one()
        assert optin.email == "me@example.org" and "unsubscribe" in optin.consent_text


async def test_an_answer_that_looks_like_a_question_is_taken_as_the_answer(database_url):
    """NLU may read "yes, and is it safe" as a safety question; it still answers the question."""
    await start()
    events, messages = await run(ActionAnswerFaq(), tracker_dict(
        SENDER, "yes I do, my doctor told me", "faq/safety", active_loop="screening_form",
        slots={"requested_slot": "answer"}))
    assert messages == []
    assert stored_answers()["diagnosis"].value == "yes"
    assert slot_events(events)["screening_outcome"] is None
    # A real question is still answered.
    _, messages = await run(ActionAnswerFaq(), tracker_dict(
        SENDER, "is it safe?", "faq/safety", active_loop="screening_form",
        slots={"requested_slot": "answer"}))
    assert "strict ethical guidelines" in texts(messages)


async def test_crisis_words_read_as_a_stop_still_show_help_first(database_url):
    """The NLU model may read "I don't want to be here anymore" as "stop": help comes first."""
    await start()
    _, messages = await run(ActionStopScreening(), tracker_dict(
        SENDER, "I don't want to be here anymore", "stop", active_loop="screening_form"))
    assert "Your safety matters most" in messages[0]["text"]
    assert "What we keep" in texts(messages[1:])


@pytest.mark.parametrize(("action", "intent"), [
    (ActionThank(), "thank"), (ActionGoodbye(), "goodbye"), (ActionBotChallenge(), "bot_challenge"),
    (ActionMedicalAdvice(), "ask_medical_advice"), (ActionAnswerFaq(), "faq/safety"),
    (ActionExplainQuestion(), "ask_why"), (ActionDefaultFallback(), "nlu_fallback"),
])
async def test_crisis_words_show_help_first_whatever_nlu_read(database_url, action, intent):
    await start()
    _, messages = await run(action, tracker_dict(
        SENDER, "thanks, but I keep thinking about killing myself", intent))
    assert "Your safety matters most" in messages[0]["text"]


async def test_crisis_words_in_an_answer_show_help_once(database_url):
    await start()
    _, messages = await reply("yes, and honestly I want to end my life")
    assert texts(messages).count("Your safety matters most") == 1
    assert stored_answers()["diagnosis"].value == "yes"


@pytest.mark.parametrize("text", ["I want to end my life", "I can't go on like this"])
async def test_crisis_read_by_nlu_in_the_contact_form_gets_help(database_url, text):
    # No crisis rule runs inside the contact form (the form has priority): its validation shows
    # the help, even for words the crisis phrases do not list.
    state = contact_state("last_name", text)
    state["latest_message"]["intent"] = {"name": "express_crisis", "confidence": 0.91}
    _, messages = await run(ValidateContactForm(), state)
    assert "Your safety matters most" in messages[0]["text"]


async def test_a_surname_that_looks_like_a_command_is_still_a_surname(database_url):
    state = contact_state("last_name", "Console")
    state["latest_message"]["intent"] = {"name": "stop", "confidence": 0.53}
    events, _ = await run(ValidateContactForm(), state)
    assert slot_events(events)["last_name"] == "Console"


async def test_asking_to_stop_during_the_contact_form_ends_it_and_keeps_nothing(database_url):
    events, _ = await run(ValidateContactForm(), contact_state("email", "I want to stop"))
    slots = slot_events(events)
    assert slots["email"] is None and slots["requested_slot"] is None
    _, messages = await run(ActionSubmitLead(), tracker_dict(SENDER, "stop", slots={
        "first_name": "Li", "last_name": "Wei"}))
    assert "won't send your details" in texts(messages)


async def test_a_plain_answer_read_as_a_correction_answers_the_current_question(database_url):
    await start()
    await reply("yes")  # diagnosis
    await run(ActionCorrectAnswer(), tracker_dict(
        SENDER, "prednisone and cellcept", "correct", active_loop="screening_form",
        slots={"requested_slot": "answer"}))
    assert stored_answers()["lupus_meds"].value == ["prednisone", "mycophenolate_mofetil"]
    assert stored_answers()["diagnosis"].value == "yes"
