"""The channels file ``make run`` gives Rasa, written from ``.env``: the web channels always, a
messaging channel when the site configured it, and a clear error when it is half configured."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from bot.deploy.credentials import (
    REST,
    SOCKETIO,
    TELEGRAM,
    TWILIO,
    CredentialsError,
    channel_credentials,
    site_origins,
    write_credentials,
)

TELEGRAM_ENV = {
    "TELEGRAM_TOKEN": "123456:ABC-def",
    "TELEGRAM_BOT_USERNAME": "@kunming_prescreen_bot",
    "TELEGRAM_WEBHOOK_URL": "https://chat.example.org/webhooks/telegram/webhook",
}
TWILIO_ENV = {
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "secret",
    "TWILIO_NUMBER": "+15551234567",
}


def test_a_site_without_messaging_gets_the_web_channels_only():
    credentials = channel_credentials({"TELEGRAM_TOKEN": "", "TWILIO_ACCOUNT_SID": ""})
    assert list(credentials) == [REST, SOCKETIO]
    assert credentials[SOCKETIO]["session_persistence"] is True


def test_the_rest_channel_is_off_unless_the_site_asks_for_it():
    assert channel_credentials({})[REST] == {"mode": "off"}
    assert channel_credentials({"REST_CHANNEL": "open"})[REST] == {"mode": "open"}
    token = "t" * 32
    assert channel_credentials({"REST_CHANNEL": "token", "REST_CHANNEL_TOKEN": token})[REST] == {
        "mode": "token", "token": token}
    with pytest.raises(CredentialsError, match="REST_CHANNEL_TOKEN of 32"):
        channel_credentials({"REST_CHANNEL": "token", "REST_CHANNEL_TOKEN": "short"})
    with pytest.raises(CredentialsError, match="off, token or open"):
        channel_credentials({"REST_CHANNEL": "yes"})


def test_only_the_study_page_may_use_the_chat_from_a_browser():
    assert site_origins({}) == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert site_origins({"SITE_PORT": "9000"})[0] == "http://localhost:9000"
    assert site_origins({"SITE_ORIGIN": "https://trial.example.org/, https://b.example.org"}) == [
        "https://trial.example.org", "https://b.example.org"]
    credentials = channel_credentials({"SITE_ORIGIN": "https://trial.example.org"})
    assert credentials[SOCKETIO]["allowed_origins"] == ["https://trial.example.org"]
    with pytest.raises(CredentialsError, match="not \\*"):
        site_origins({"SITE_ORIGIN": "*"})


def test_telegram_is_enabled_by_its_token():
    config = channel_credentials(TELEGRAM_ENV)[TELEGRAM]
    assert config == {
        "access_token": "123456:ABC-def",
        "verify": "kunming_prescreen_bot",
        "webhook_url": "https://chat.example.org/webhooks/telegram/webhook",
    }
    config = channel_credentials(
        {**TELEGRAM_ENV, "TELEGRAM_WEBHOOK_SECRET": "s3cret", "TELEGRAM_API_URL": "http://x"}
    )[TELEGRAM]
    assert config["secret_token"] == "s3cret" and config["api_url"] == "http://x"


def test_twilio_is_enabled_by_its_account():
    config = channel_credentials(TWILIO_ENV)[TWILIO]
    assert config == {"account_sid": "AC123", "auth_token": "secret",
                      "twilio_number": "+15551234567"}
    whatsapp_only = {**TWILIO_ENV, "TWILIO_NUMBER": "",
                     "TWILIO_WHATSAPP_NUMBER": "whatsapp:+14155238886"}
    config = channel_credentials(whatsapp_only)[TWILIO]
    assert config["twilio_number"] == config["whatsapp_number"] == "whatsapp:+14155238886"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_TOKEN": "1:a"}, "TELEGRAM_BOT_USERNAME, TELEGRAM_WEBHOOK_URL"),
        ({**TWILIO_ENV, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({**TWILIO_ENV, "TWILIO_NUMBER": ""}, "TWILIO_NUMBER or TWILIO_WHATSAPP_NUMBER"),
    ],
)
def test_a_half_configured_channel_names_what_is_missing(env, message):
    with pytest.raises(CredentialsError, match=message):
        channel_credentials(env)


def test_the_file_is_private_and_rasa_builds_every_channel_from_it(tmp_path: Path):
    from rasa.core.run import create_http_input_channels

    path = tmp_path / "var" / "credentials.yml"
    names = write_credentials(path, {**TELEGRAM_ENV, **TWILIO_ENV})
    assert names == ["rest", "socketio", "telegram", "twilio"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())[TWILIO]["auth_token"] == "secret"
    channels = create_http_input_channels(None, str(path))
    assert [c.name() for c in channels] == ["rest", "socketio", "telegram", "twilio"]
    assert {type(c).__module__ for c in channels} == {
        "channels.rest", "channels.socketio", "channels.telegram", "channels.twilio"}
    assert channels[0].mode == "off"


def test_the_committed_file_runs_as_it_is():
    from rasa.core.run import create_http_input_channels

    committed = Path(__file__).resolve().parents[2] / "credentials.yml"
    assert [c.name() for c in create_http_input_channels(None, str(committed))] == [
        "rest", "socketio"]
