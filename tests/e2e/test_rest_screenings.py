"""Whole screenings through the REST channel of the real Rasa server and action server, typed as
patients type, checked in the database and the outbox."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import AnswerRow, Lead, OptIn, Screening
from bot.protocol import get_protocol

pytestmark = pytest.mark.e2e

PROTOCOL = get_protocol("NCT06675422")
QUESTION_BY_TEXT = {q.text.get(): q.id for q in PROTOCOL.questions}

# A patient who may qualify, answering in their own words.
FREE_TEXT = {
    "diagnosis": "yes I was diagnosed in 2019",
    "lupus_meds": "I take prednisone and CellCept",
    "steroid_dose": "ten mg a day",
    "treatment_duration": "two and a half months",
    "dose_stable": "yep",
    "age": "thirty-four",
    "guardian": "yes my mum is here",
    "guardian_agrees": "yes she's happy for me to do it",
    "other_autoimmune": "no",
    "sex": "I'm a woman",
    "pregnant": "no I'm not",
    "could_be_pregnant": "no",
    "breastfeeding": "nope",
    "brain_condition": "no",
    "active_infection": "no",
    "transplant": "never",
    "heart_problem": "no",
    "severe_lung": "no",
    "cancer": "no",
    "recurrent_infections": "no",
    "high_dose_steroids": "no",
    "dialysis": "no",
    "hiv": "no",
    "live_vaccine": "no",
    "substance_use": "no",
    "other_study_drug": "no",
    "lupus_active": "yes",
    "symptoms": "yes, my joints hurt",
    "antibodies": "yes",
    "lupus_crisis": "no",
    "fluid_heart_lungs": "no",
    "hepatitis_syphilis": "no",
    "suicidal_thoughts": "no",
    "drug_allergy": "no",
}


def last_question(replies: list[dict]) -> str | None:
    """The protocol question the bot's replies end with, if any (after a line of progress)."""
    for message in reversed(replies):
        text = (message.get("text") or "").split("\nReply ")[0].split("\n")[-1]
        if text in QUESTION_BY_TEXT:
            return QUESTION_BY_TEXT[text]
    return None


def is_read_back(replies: list[dict]) -> bool:
    """The bot says what it understood and asks "Is that right?" before it counts."""
    text = (replies[-1].get("text") or "") if replies else ""
    return text.split("\nReply ")[0].rstrip().endswith("Is that right?")


def said(replies: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in replies)


def screen(stack, sender: str, patient: dict[str, str], extra: dict[str, list[str]] | None = None):
    """Greets, consents and answers every question the bot asks from ``patient``.

    ``extra`` maps a question id to messages sent before answering it (FAQs, corrections...).
    Returns the replies to the last answer.
    """
    replies = stack.talk(sender, "hi")
    assert "not a diagnosis" in said(replies)
    replies = stack.talk(sender, "yes")
    asked: list[str] = []
    for _ in range(90):
        if is_read_back(replies):  # this patient's words say what they mean: "yes"
            replies = stack.talk(sender, "yes")
            continue
        qid = last_question(replies)
        if qid is None:
            return asked, replies
        asked.append(qid)
        for message in (extra or {}).pop(qid, []):
            interlude = stack.talk(sender, message)
            assert last_question(interlude) == qid, f"after {message!r} the bot asks {qid} again"
        replies = stack.talk(sender, patient[qid])
    pytest.fail("the screening did not end")


def screening_row(stack, sender: str) -> Screening:
    with session_scope(stack.database_url) as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == sender)
        ).scalar_one()
        session.expunge(screening)
        return screening


def answers_of(stack, sender: str) -> dict[str, AnswerRow]:
    with session_scope(stack.database_url) as session:
        rows = session.execute(
            select(AnswerRow).join(Screening).where(
                Screening.conversation_id == sender, AnswerRow.superseded_at.is_(None)
            )
        ).scalars().all()
        return {r.question_id: r for r in rows}


def test_a_knockout_ends_early_kindly_and_offers_other_trials(stack):
    patient = {**FREE_TEXT, "treatment_duration": "about a month"}
    asked, replies = screen(stack, "knockout-1", patient)
    assert asked == ["diagnosis", "lupus_meds", "steroid_dose", "treatment_duration"]
    text = said(replies)
    assert "can't take part in this study" in text
    assert "at least 2 months" in text
    assert "other clinical trials" in text
    replies = stack.talk("knockout-1", "yes please")
    assert "email" in said(replies).lower()
    replies = stack.talk("knockout-1", "sam.lee@example.org")
    replies = stack.talk("knockout-1", "yes")
    assert "signed up" in said(replies)

    screening = screening_row(stack, "knockout-1")
    assert screening.status == "not_eligible"
    assert screening.last_question_id == "treatment_duration"
    answers = answers_of(stack, "knockout-1")
    assert answers["treatment_duration"].raw_text == "about a month"
    assert answers["lupus_meds"].value == ["prednisone", "mycophenolate_mofetil"]
    with session_scope(stack.database_url) as session:
        optin = session.execute(select(OptIn)).scalar_one()
        assert optin.email == "sam.lee@example.org"


def test_a_patient_who_may_qualify_reaches_the_queue_and_the_outbox(stack):
    sender = "lead-1"
    extra = {
        "dose_stable": ["do I get paid for this?", "why do you ask?"],
        "other_autoimmune": ["actually I'm 46"],
    }
    asked, replies = screen(stack, sender, FREE_TEXT, extra)
    assert "guardian" not in asked
    assert "may be able to take part" in said(replies)
    assert "eligible" not in said(replies).lower()
    for text in ["yes", "Maria", "Garcia", "maria.garcia@example.com", "+86 138 0013 8000",
                 "no"]:
        replies = stack.talk(sender, text)
    assert "Please check your details" in said(replies)
    assert "+86 138 0013 8000" in said(replies)
    stack.talk(sender, "yes")
    replies = stack.talk(sender, "yes I agree")
    assert re.search(
        r"We have submitted the contact information you provided to the research team at 920th "
        r"Hospital .*\. A copy of the message has been sent to your email for your records\.",
        said(replies),
    )

    screening = screening_row(stack, sender)
    assert screening.status == "may_qualify"
    assert screening.channel == "rest"
    assert answers_of(stack, sender)["age"].value == 46
    with session_scope(stack.database_url) as session:
        lead = session.execute(select(Lead).where(Lead.screening_id == screening.id)).scalar_one()
        assert (lead.first_name, lead.last_name) == ("Maria", "Garcia")
        assert lead.phone == "+8613800138000" and lead.status == "new"
        assert lead.to_confirm == []
    # The outbox worker sends the copy after the patient's turn: within a few seconds.
    deadline = time.monotonic() + 30
    while not any("maria.garcia@example.com" in p.read_text()
                  for p in stack.outbox_dir.glob("*.eml")):
        assert time.monotonic() < deadline, "the email copy was not sent"
        time.sleep(0.5)


def test_not_sure_answers_end_as_a_lead_with_criteria_for_the_site(stack):
    sender = "unsure-1"
    patient = {
        **FREE_TEXT,
        "age": "16",
        "antibodies": "I'm not sure",
        "lupus_active": "I don't know",
        "hepatitis_syphilis": "no idea",
    }
    asked, replies = screen(stack, sender, patient)
    assert asked[asked.index("age") + 1] == "guardian"
    text = said(replies)
    assert "They will also need to check with you" in text
    assert "parent or guardian" in text
    for message in ["yes", "Li", "Wei", "li.wei@example.com", "13800138000", "Mandarin", "yes",
                    "yes"]:
        replies = stack.talk(sender, message)
    assert "We have submitted the contact information" in said(replies)
    with session_scope(stack.database_url) as session:
        lead = session.execute(select(Lead).join(Screening).where(
            Screening.conversation_id == sender)).scalar_one()
        assert lead.is_minor is True
        assert lead.other_language == "Mandarin"
        assert lead.outcome == "may_qualify_confirm"
        assert {"inc3_serology", "inc4_sledai", "exc12_viral_infections"} <= set(lead.to_confirm)
    answers = answers_of(stack, sender)
    assert answers["antibodies"].unsure and answers["antibodies"].raw_text == "I'm not sure"


def test_a_patient_can_stop_and_the_partial_screening_is_kept(stack):
    sender = "stop-1"
    stack.talk(sender, "hello")
    stack.talk(sender, "yes")
    stack.talk(sender, "yes")
    replies = stack.talk(sender, "I want to stop now")
    assert "What we keep" in said(replies)
    screening = screening_row(stack, sender)
    assert screening.status == "stopped"
    assert set(answers_of(stack, sender)) == {"diagnosis"}


# ---- what a patient meets around the questions (issue 7, item 7) --------------------------

def buttons_of(replies: list[dict]) -> list[tuple[str, str]]:
    return [(b["title"], b["payload"]) for b in (replies[-1].get("buttons") or [])]


def contact_details(stack, sender: str) -> list[dict]:
    """Yes to contact, the details, and consent; the replies to the consent."""
    for text in ["yes", "Ana", "Lopez", "ana.lopez@example.org", "+86 139 0000 1111", "no",
                 "yes"]:
        stack.talk(sender, text)
    return stack.talk(sender, "yes I agree")


def test_an_unclear_reply_to_the_contact_question_asks_it_again_and_yes_still_works(stack):
    sender = "unclear-contact-1"
    _, replies = screen(stack, sender, FREE_TEXT)
    assert "contact you" in said(replies)
    replies = stack.talk(sender, "hmm")
    assert replies[0]["text"] in ("Sorry, I didn't understand that.",
                                  "That's fine, there's no hurry.")
    assert replies[-1]["text"].startswith("Would you like the study team at")
    assert buttons_of(replies) == [("Yes", "/affirm"), ("No", "/deny")]
    assert "answer the question" not in said(replies)
    # The unclear reply was forgotten: yes to the question opens the contact form.
    replies = stack.talk(sender, "yes")
    assert said(replies) == "What is your first name?"


def test_after_the_lead_the_bot_offers_news_of_other_trials_with_the_same_email(stack):
    sender = "notify-1"
    screen(stack, sender, FREE_TEXT)
    replies = contact_details(stack, sender)
    assert "We have submitted the contact information" in said(replies)
    assert replies[-1]["text"] == "Would you like to be notified about other trials?"
    assert buttons_of(replies) == [("Yes", "/affirm"), ("No", "/deny")]
    replies = stack.talk(sender, "yes please")
    assert "I'll use the email address you gave the study team: ana.lopez@example.org." in said(
        replies)
    assert "What email address" not in said(replies)  # only the opt-in consent is asked
    assert "keep your email address" in replies[-1]["text"]
    replies = stack.talk(sender, "yes")
    assert "signed up" in said(replies)
    with session_scope(stack.database_url) as session:
        optin = session.execute(select(OptIn).join(Screening).where(
            Screening.conversation_id == sender)).scalar_one()
        assert optin.email == "ana.lopez@example.org"


def test_no_to_news_after_the_lead_ends_kindly(stack):
    sender = "notify-2"
    screen(stack, sender, FREE_TEXT)
    contact_details(stack, sender)
    replies = stack.talk(sender, "no thanks")
    assert "Thank you for your time" in said(replies)
    replies = stack.talk(sender, "hmm")
    assert "the study team has your details" in said(replies)
    assert "answer the question" not in said(replies)


def test_start_over_asks_first_and_no_carries_on_at_the_same_question(stack):
    sender = "restart-1"
    stack.talk(sender, "hi")
    stack.talk(sender, "yes")
    replies = stack.talk(sender, FREE_TEXT["diagnosis"])
    question = last_question(replies)
    assert question is not None
    replies = stack.talk(sender, "start over")
    assert replies[-1]["text"] == (
        "Start again from the beginning? The answers you gave so far will be set aside.")
    assert buttons_of(replies) == [("Yes", "/affirm"), ("No", "/deny")]
    replies = stack.talk(sender, "no")
    assert replies[0]["text"] == "OK, let's carry on where you were."
    assert last_question(replies) == question
    assert screening_row(stack, sender).status == "in_progress"
    assert set(answers_of(stack, sender)) == {"diagnosis"}
    # The screening form is back at its question: the next reply answers it.
    replies = stack.talk(sender, FREE_TEXT[question])
    # (A typed medicines list is read back first: "Is that right?")
    assert "Is that right?" in said(replies) or question in answers_of(stack, sender)
    # And yes to starting over starts again, with the answers set aside.
    stack.talk(sender, "start over")
    replies = stack.talk(sender, "yes")
    assert "start again from the beginning" in said(replies)
    assert "not a diagnosis" in said(replies)
