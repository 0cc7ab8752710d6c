"""Whole screenings through Telegram and Twilio (SMS, WhatsApp), as patients use them.

Rasa's own connectors run (``channels/``): each inbound message is posted to Rasa's webhook in the
provider's real format (a Telegram update as JSON with the webhook secret; a Twilio message as a
signed form), and what the bot sends comes back as calls to a stand-in for the provider's API on
loopback (tests/e2e/conftest.py). Each screening ends with a lead in the queue, its channel
recorded.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.db import session_scope
from bot.models import AnswerRow, Lead, Screening
from tests.e2e.conftest import (
    TELEGRAM_SECRET,
    TWILIO_NUMBER,
    TWILIO_SID,
    TWILIO_TOKEN,
    TWILIO_WHATSAPP,
    Call,
    Stack,
)
from tests.e2e.test_rest_screenings import FREE_TEXT, QUESTION_BY_TEXT

pytestmark = pytest.mark.e2e

NUMBERED_YES_NO = "Reply 1 for Yes, 2 for No, 3 for Not sure."
_ids = itertools.count(1000)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


READ_BACK = "read back"  # the bot says what it understood: "... Is that right?"


def question_of(texts: list[str]) -> str | None:
    """The protocol question the bot's last messages end with (after its line of progress), or
    READ_BACK while the bot waits for "yes, that's right", if any."""
    for text in reversed(texts):
        body = text.split("\nReply ")[0]
        if body.rstrip().endswith("Is that right?"):
            return READ_BACK
        if body.split("\n")[-1] in QUESTION_BY_TEXT:
            return QUESTION_BY_TEXT[body.split("\n")[-1]]
    return None


def screening_of(stack: Stack, conversation_id: str) -> tuple[Screening, Lead | None]:
    with session_scope(stack.database_url) as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == conversation_id)
        ).scalar_one()
        lead = session.execute(
            select(Lead).where(Lead.screening_id == screening.id)
        ).scalar_one_or_none()
        session.expunge_all()
        return screening, lead


def answers_of(stack: Stack, conversation_id: str) -> dict[str, AnswerRow]:
    with session_scope(stack.database_url) as session:
        rows = session.execute(
            select(AnswerRow).join(Screening).where(
                Screening.conversation_id == conversation_id, AnswerRow.superseded_at.is_(None)
            )
        ).scalars().all()
        session.expunge_all()
        return {r.question_id: r for r in rows}


# ---- Telegram -----------------------------------------------------------------------------------


class TelegramPatient:
    """A patient in a private chat with the bot: types, or taps the buttons under a message."""

    def __init__(self, stack: Stack, chat_id: int, first_name: str) -> None:
        self.stack = stack
        self.user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        self.chat = {"id": chat_id, "type": "private", "first_name": first_name}
        self.received: list[Call] = []
        self.tapped: set[str] = set()  # the ids of the patient's button taps

    def _deliver(self, update: dict[str, Any], secret: str | None = TELEGRAM_SECRET) -> int:
        mark = self.stack.providers.telegram.mark()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status, _ = post(self.stack.telegram_webhook, json.dumps(update).encode(), headers)
        self.received = [
            c for c in self.stack.providers.telegram.since(mark, "sendMessage")
            if int(c.params["chat_id"]) == self.chat["id"]
        ]
        return status

    def types(self, text: str, secret: str | None = TELEGRAM_SECRET) -> int:
        return self._deliver({
            "update_id": next(_ids),
            "message": {"message_id": next(_ids), "date": int(time.time()), "chat": self.chat,
                        "from": self.user, "text": text},
        }, secret)

    def buttons(self) -> dict[str, str]:
        """The titles and values of the buttons under the bot's last message."""
        for call in reversed(self.received):
            markup = call.params.get("reply_markup")
            if markup:
                return {b["text"]: b["callback_data"]
                        for row in markup["inline_keyboard"] for b in row}
        return {}

    def taps(self, title: str) -> int:
        buttons = self.buttons()
        assert title in buttons, f"no button {title!r} under the bot's message: {buttons}"
        last = self.received[-1]
        query_id = str(next(_ids))
        self.tapped.add(query_id)
        return self._deliver({
            "update_id": next(_ids),
            "callback_query": {
                "id": query_id,
                "from": self.user,
                "chat_instance": "-1",
                "data": buttons[title],
                "message": {"message_id": next(_ids), "date": int(time.time()),
                            "chat": self.chat, "text": last.params["text"]},
            },
        })

    @property
    def texts(self) -> list[str]:
        return [c.params["text"] for c in self.received]

    def said(self) -> str:
        return "\n".join(self.texts)


def answered_taps(stack: Stack) -> set[str]:
    return {c.params["callback_query_id"] for c in stack.providers.telegram.calls
            if c.method == "answerCallbackQuery"}


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """The bot answers a tap beside the patient's turn, so the answer may land a moment later."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_telegram_registers_its_webhook_with_the_secret_at_start_up(stack):
    registered = [c for c in stack.providers.telegram.calls if c.method == "setWebhook"]
    assert registered and registered[0].params == {
        "url": "https://prescreen.example.org/webhooks/telegram/webhook",
        "secret_token": TELEGRAM_SECRET,
    }


def test_a_telegram_update_without_the_secret_is_refused(stack):
    patient = TelegramPatient(stack, 4242000, "Mallory")
    assert patient.types("hi", secret=None) == 403
    assert patient.types("hi", secret="guessed") == 403
    assert patient.received == []


def test_a_whole_screening_on_telegram_ends_in_the_queue(stack):
    patient = TelegramPatient(stack, 4242001, "Maria")
    assert patient.types("/start") == 200  # what Telegram sends when the patient presses Start
    assert "not a diagnosis" in patient.said()
    assert list(patient.buttons()) == ["Yes, let's start", "No, thanks"]
    patient.taps("Yes, let's start")

    asked: list[str] = []
    while (qid := question_of(patient.texts)) is not None:
        assert len(asked) < 40, f"the screening did not end: {asked} {patient.texts}"
        asked.append(qid)
        answer = "yes" if qid == READ_BACK else FREE_TEXT[qid]
        if answer in ("yes", "no") and answer.capitalize() in patient.buttons():
            patient.taps(answer.capitalize())
        else:
            patient.types(answer)
    assert "may be able to take part" in patient.said()
    assert len(asked) > 20
    assert all(len(c.params["text"]) <= 4096 for c in stack.providers.telegram.calls
               if c.method == "sendMessage")

    patient.taps("Yes")
    for text in ["Maria", "Garcia", "maria.garcia@example.com", "+86 138 0013 8000"]:
        patient.types(text)
    patient.taps("No, English is fine")
    assert "Please check your details" in patient.said()
    patient.taps("Yes, that's right")
    patient.taps("Yes, I agree")
    assert "We have submitted the contact information" in patient.said()

    assert wait_for(lambda: patient.tapped <= answered_taps(stack))  # none left spinning

    screening, lead = screening_of(stack, "4242001")
    assert screening.channel == "telegram"
    assert screening.status == "may_qualify"
    assert lead is not None and lead.status == "new"
    assert (lead.first_name, lead.email, lead.phone) == (
        "Maria", "maria.garcia@example.com", "+8613800138000")
    answers = answers_of(stack, "4242001")
    assert answers["other_autoimmune"].raw_text == '/inform{"answer": "no"}'  # a tap
    assert answers["steroid_dose"].raw_text == "ten mg a day"  # typed


def test_a_telegram_deep_link_names_the_trial(stack):
    patient = TelegramPatient(stack, 4242002, "Li")
    patient.types("/start NCT06675422")
    assert "the JY231 study for active lupus" in patient.said()
    assert list(patient.buttons()) == ["Yes, let's start", "No, thanks"]


# ---- Twilio: SMS and WhatsApp -------------------------------------------------------------------


class TwilioPatient:
    """A patient texting the site's number (or its WhatsApp sender) through Twilio."""

    def __init__(self, stack: Stack, address: str, to: str = TWILIO_NUMBER) -> None:
        self.stack = stack
        self.address = address
        self.to = to
        self.received: list[Call] = []

    def texts_bot(self, body: str, signature: str | None = None) -> int:
        form = {
            "MessageSid": f"SM{next(_ids):032d}",
            "AccountSid": TWILIO_SID,
            "From": self.address,
            "To": self.to,
            "Body": body,
            "NumMedia": "0",
        }
        if signature is None:
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(
                self.stack.twilio_webhook, form
            )
        mark = self.stack.providers.twilio.mark()
        status, _ = post(
            self.stack.twilio_webhook,
            urllib.parse.urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": signature},
        )
        self.received = [c for c in self.stack.providers.twilio.since(mark)
                         if c.params["To"] == self.address]
        return status

    @property
    def texts(self) -> list[str]:
        return [c.params["Body"] for c in self.received]

    def said(self) -> str:
        return "\n".join(self.texts)


def test_an_unsigned_twilio_webhook_is_refused(stack):
    patient = TwilioPatient(stack, "+8613800000666")
    assert patient.texts_bot("hi", signature="bm90IGEgc2lnbmF0dXJl") == 403
    assert patient.received == []
    with session_scope(stack.database_url) as session:
        assert session.execute(
            select(Screening).where(Screening.conversation_id == "+8613800000666")
        ).scalar_one_or_none() is None


def test_a_whole_screening_by_sms_with_numbered_replies_ends_in_the_queue(stack):
    patient = TwilioPatient(stack, "+8613800138001")
    assert patient.texts_bot("hi") == 204
    assert "not a diagnosis" in patient.said()
    assert patient.texts[-1].endswith("Reply 1 for Yes, let's start, 2 for No, thanks.")
    patient.texts_bot("yes")

    asked: list[str] = []
    while (qid := question_of(patient.texts)) is not None:
        assert len(asked) < 40, "the screening did not end"
        asked.append(qid)
        answer = "yes" if qid == READ_BACK else FREE_TEXT[qid]
        if patient.texts[-1].endswith(NUMBERED_YES_NO) and answer in ("yes", "no"):
            answer = {"yes": "1", "no": "2"}[answer]  # the patient replies with the number
        patient.texts_bot(answer)
    assert "may be able to take part" in patient.said(), (asked, answer, patient.texts)
    assert all(c.params["From"] == TWILIO_NUMBER for c in stack.providers.twilio.calls
               if c.params["To"] == patient.address)
    assert all(len(c.params["Body"]) <= 1600 for c in stack.providers.twilio.calls)

    # "yes" to being contacted; "1" for "Yes, that's right" when the details are read back.
    for text in ["yes", "Wei", "Chen", "wei.chen@example.com", "13800138001", "no", "1", "yes"]:
        patient.texts_bot(text)
    assert "We have submitted the contact information" in patient.said()

    screening, lead = screening_of(stack, "+8613800138001")
    assert screening.channel == "twilio"
    assert lead is not None and lead.phone == "+8613800138001"
    answers = answers_of(stack, "+8613800138001")
    numbered = [a for a in answers.values() if a.raw_text in ("1", "2")]
    assert len(numbered) >= 10
    assert answers["other_autoimmune"].raw_text == "2"
    assert answers["other_autoimmune"].value == "no"
    assert answers["diagnosis"].raw_text == "yes I was diagnosed in 2019"


def test_a_numbered_reply_to_the_consent_question_starts_the_screening(stack):
    patient = TwilioPatient(stack, "+8613800138009")
    patient.texts_bot("hi")
    assert patient.texts[-1].endswith("Reply 1 for Yes, let's start, 2 for No, thanks.")
    patient.texts_bot("1")
    assert question_of(patient.texts) == "diagnosis"


def test_whatsapp_patients_are_answered_on_whatsapp(stack):
    patient = TwilioPatient(stack, "whatsapp:+8613900139000", to=TWILIO_WHATSAPP)
    assert patient.texts_bot("hello") == 204
    assert "not a diagnosis" in patient.said()
    patient.texts_bot("yes")
    assert question_of(patient.texts) == "diagnosis"
    assert patient.texts[-1].endswith(NUMBERED_YES_NO)
    assert {c.params["From"] for c in patient.received} == {TWILIO_WHATSAPP}
    patient.texts_bot("3")
    screening, _ = screening_of(stack, "whatsapp:+8613900139000")
    assert screening.channel == "twilio"
    assert answers_of(stack, "whatsapp:+8613900139000")["diagnosis"].unsure


def test_the_connectors_authenticate_to_the_providers(stack):
    """Telegram's token in the path, Twilio's Basic authentication: the stand-ins refuse and
    record anything else, and nothing was refused."""
    for stand_in in (stack.providers.telegram, stack.providers.twilio):
        assert stand_in.calls
        assert [c for c in stand_in.calls if c.method == "unauthorized"] == []
