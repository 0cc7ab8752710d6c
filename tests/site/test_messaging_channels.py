"""What the messaging connectors add to Rasa's: Telegram's /start greets (and a deep link names the
trial), Twilio answers a WhatsApp patient on WhatsApp, the socket.io channel only takes the session
ids it issued. The whole connectors run against stand-ins in tests/e2e/test_messaging.py."""

from __future__ import annotations

import pytest

from channels.socketio import is_session_id
from channels.telegram import TelegramOutput, callback_query_id, greeting_for_start
from channels.twilio import TwilioOutput


@pytest.mark.parametrize(
    ("text", "sent_to_rasa"),
    [
        ("/start", "/greet"),
        ("/start NCT06675422", '/greet{"trial": "NCT06675422"}'),
        ("/start@kunming_prescreen_bot NCT06675422", '/greet{"trial": "NCT06675422"}'),
        ("/start NCT00000000", "/greet"),  # a trial this site does not screen for
        ("/start ../../etc", "/greet"),
        ("yes, my joints hurt", "yes, my joints hurt"),
        ("/startle", "/startle"),
    ],
)
def test_telegrams_start_command_greets_the_patient(text, sent_to_rasa):
    assert greeting_for_start(text) == sent_to_rasa


@pytest.mark.parametrize(("body", "query_id"), [
    (b'{"update_id": 1, "callback_query": {"id": "4382", "data": "/affirm"}}', "4382"),
    (b'{"update_id": 2, "message": {"text": "yes"}}', None),
    (b"not json", None),
    (b"[1, 2]", None),
])
def test_only_a_telegram_button_tap_is_acknowledged(body, query_id):
    assert callback_query_id(body) == query_id


def test_telegram_output_uses_the_configured_bot_api_server():
    output = TelegramOutput("123456:ABC-def", api_url="http://127.0.0.1:8081/")
    assert output.server.api_url("123456:ABC-def", "sendMessage") == (
        "http://127.0.0.1:8081/bot123456:ABC-def/sendMessage"
    )
    assert TelegramOutput("123456:ABC-def").server.api_url("T", "getMe") == (
        "https://api.telegram.org/botT/getMe"
    )


def test_twilio_answers_each_patient_on_the_channel_they_wrote_from():
    output = TwilioOutput("AC1", "token", "+15551234567", whatsapp_number="whatsapp:+14155238886")
    assert output.sender_for("+8613800138000") == "+15551234567"
    assert output.sender_for("whatsapp:+8613800138000") == "whatsapp:+14155238886"
    same_number = TwilioOutput("AC1", "token", "+15551234567")
    assert same_number.sender_for("whatsapp:+8613800138000") == "whatsapp:+15551234567"


def test_twilio_output_uses_the_configured_api_url():
    output = TwilioOutput("AC1", "token", "+1555", api_url="http://127.0.0.1:9000/")
    assert output.api.absolute_url("2010-04-01/Accounts/AC1/Messages.json") == (
        "http://127.0.0.1:9000/2010-04-01/Accounts/AC1/Messages.json"
    )


@pytest.mark.parametrize(
    ("value", "issued"),
    [("0123456789abcdef0123456789abcdef", True), ("+8613800138000", False), ("123456789", False),
     ("", False), (None, False), ("0123456789ABCDEF0123456789ABCDEF", False)],
)
def test_socketio_takes_only_session_ids_it_issued(value, issued):
    assert is_session_id(value) is issued
