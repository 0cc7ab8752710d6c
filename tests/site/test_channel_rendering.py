"""What a long message with options becomes on each real channel name: numbered options and parts
within 1600 characters on Twilio, buttons and parts within 4096 on Telegram, then through the
Twilio connector's own sending code."""

from __future__ import annotations

import re

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import say
from bot.questions import Option
from channels.twilio import TwilioOutput
from tests.trackers import tracker_dict

OPTIONS = (Option("yes", "Yes"), Option("no", "No"), Option("unsure", "Not sure"))
PARAGRAPH = ("Lupus is a long-term condition in which the immune system attacks the body. " * 6)
LONG = "\n\n".join([PARAGRAPH.strip()] * 8) + "\n\nIs this clear?"  # about 3700 characters


def said_on(channel: str, text: str = LONG) -> list[dict]:
    dispatcher = CollectingDispatcher()
    say(dispatcher, Tracker.from_dict(tracker_dict(channel=channel)), text, OPTIONS)
    return dispatcher.messages


def words(messages: list[dict]) -> list[str]:
    return " ".join(m["text"] for m in messages).split()


def test_on_sms_and_whatsapp_options_are_numbered_and_parts_fit_twilios_limit():
    messages = said_on("twilio")
    assert len(messages) == 3
    assert all(len(m["text"]) <= 1600 for m in messages)
    # The buttons ride along for the transcript; the connector sends the numbered text only.
    assert [b["title"] for b in messages[-1]["buttons"]] == ["Yes", "No", "Not sure"]
    assert not any(m.get("buttons") for m in messages[:-1])
    assert messages[-1]["text"].endswith(
        "Is this clear?\nReply 1 for Yes, 2 for No, 3 for Not sure."
    )
    assert words(messages)[: len(LONG.split())] == LONG.split()


def test_on_telegram_options_are_buttons_and_parts_fit_its_limit():
    messages = said_on("telegram")
    assert len(messages) == 1 and len(messages[0]["text"]) <= 4096
    assert [b["title"] for b in messages[0]["buttons"]] == ["Yes", "No", "Not sure"]
    assert messages[0]["buttons"][0]["payload"] == '/inform{"answer": "yes"}'
    very_long = said_on("telegram", " ".join([LONG] * 2))
    assert len(very_long) == 2 and all(len(m["text"]) <= 4096 for m in very_long)
    assert very_long[-1]["buttons"] and not very_long[0].get("buttons")


@pytest.mark.parametrize("channel", ["socketio", "rest"])
def test_web_channels_get_buttons(channel):
    (message,) = said_on(channel, "Is this clear?")
    assert [b["title"] for b in message["buttons"]] == ["Yes", "No", "Not sure"]


async def test_twilios_connector_sends_every_part_within_the_limit(monkeypatch):
    output = TwilioOutput("AC1", "token", "+15550001111")
    sent: list[dict] = []
    monkeypatch.setattr(type(output.messages), "create", lambda self, **data: sent.append(data))
    for message in said_on("twilio"):
        if message.get("buttons"):
            await output.send_text_with_buttons(
                "+8613800138000", message["text"], message["buttons"]
            )
        else:
            await output.send_text_message("+8613800138000", message["text"])
    assert len(sent) >= 9  # Rasa's connector also sends each paragraph on its own
    assert all(len(m["body"]) <= 1600 and m["from_"] == "+15550001111" for m in sent)
    assert re.fullmatch(r"Is this clear\?\nReply 1 for Yes, 2 for No, 3 for Not sure\.",
                        sent[-1]["body"])
