"""The pieces of the channels' checks that need no server: the rate limiter's buckets, which
Telegram updates and Twilio forms Rasa can read, and the socket.io session tokens. The same
checks are seen from outside, on Rasa's server, in tests/site/test_channel_guards.py."""

from __future__ import annotations

import json
import stat

import pytest

from channels.limits import Limits, RateLimiter
from channels.socketio import is_issued, session_key, session_token
from channels.telegram import BAD, IGNORED, READABLE, update_kind
from channels.twilio import readable_form


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_refuses_then_refills():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.check("a")
    assert not refused.allowed and refused.first_refusal
    again = limiter.check("a")
    assert not again.allowed and not again.first_refusal  # told once, not every time
    assert limiter.check("b").allowed  # another sender is not held up
    assert limiter.retry_after("a") == 20
    clock.now += 20
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed


def test_the_buckets_stay_bounded_by_the_keys_active_in_a_window():
    clock = Clock()
    limiter = RateLimiter(2, 10, clock=clock, max_keys=100)
    for n in range(100):
        limiter.check(n)
    clock.now += 10  # every bucket is full again
    limiter.check("new")
    assert len(limiter._buckets) <= 2


def test_limits_come_from_the_environment():
    assert Limits.from_env({}) == Limits(1000, 60, 300, 60)
    assert Limits.from_env({"MAX_MESSAGE_CHARS": "200"}).max_chars == 200
    with pytest.raises(ValueError, match="MAX_MESSAGE_CHARS"):
        Limits.from_env({"MAX_MESSAGE_CHARS": "lots"})
    with pytest.raises(ValueError, match="at least 1"):
        Limits.from_env({"RATE_LIMIT_PER_SENDER": "0"})


def _update(**parts) -> bytes:
    return json.dumps({"update_id": 1, **parts}).encode()


CHAT = {"id": 42, "type": "private"}


@pytest.mark.parametrize(("body", "kind"), [
    (b"", BAD), (b"{", BAD), (b"[]", BAD), (b'"x"', BAD), (b'{"update_id": true}', BAD),
    (b'{"update_id": ' + b"9" * 5000 + b"}", BAD),
    (b"[" * 100_000, BAD),
    (_update(message={"chat": CHAT, "text": "hi"}), READABLE),
    (_update(message={"chat": CHAT, "location": {"longitude": 1.5, "latitude": 2}}), READABLE),
    (_update(callback_query={"id": "1", "data": "/affirm", "message": {"chat": CHAT}}), READABLE),
    (_update(edited_message={"chat": CHAT, "text": "no"}), READABLE),
    (_update(), IGNORED),
    (_update(message={"chat": CHAT, "sticker": {}}), IGNORED),
    (_update(message={"chat": {"id": "42"}, "text": "hi"}), IGNORED),
    (_update(message={"chat": {"id": True}, "text": "hi"}), IGNORED),
    (_update(callback_query={"id": "1", "data": "/affirm"}), IGNORED),
    (_update(edited_message={"chat": CHAT}), IGNORED),
])
def test_only_an_update_rasa_can_read_reaches_it(body, kind):
    assert update_kind(body) == kind


@pytest.mark.parametrize(("form", "readable"), [
    ({"From": "+8613800138000", "Body": "yes"}, True),
    ({"From": "+8613800138000", "Body": ""}, True),
    ({"From": "whatsapp:+1", "Latitude": "1.0", "Longitude": "2.0"}, True),
    ({"From": "+8613800138000"}, False),
    ({"Body": "yes"}, False),
    ({"From": " ", "Body": "yes"}, False),
])
def test_only_a_twilio_message_rasa_can_read_reaches_it(form, readable):
    assert readable_form(form) is readable


def test_a_session_token_belongs_to_its_id_and_its_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SOCKETIO_SESSION_KEY", raising=False)
    key = session_key(tmp_path / "key")
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    assert session_key(tmp_path / "key") == key  # kept across restarts
    sid = "a" * 32
    token = session_token(key, sid)
    assert is_issued(key, sid, token)
    assert not is_issued(key, "b" * 32, token)
    assert not is_issued(b"another key" * 4, sid, token)
    assert not is_issued(key, sid, token.upper())
    assert not is_issued(key, sid, None)
    assert not is_issued(key, "+8613800138000", session_token(key, "+8613800138000"))
    monkeypatch.setenv("SOCKETIO_SESSION_KEY", "short")
    with pytest.raises(ValueError, match="at least 32"):
        session_key(tmp_path / "unused")


async def test_the_kind_reply_is_in_the_conversations_language():
    from bot.messages import msg
    from channels.limits import TOO_LONG, conversation_language

    class Tracker:
        def __init__(self, language: str | None) -> None:
            self.language = language

        def get_slot(self, name: str) -> str | None:
            return self.language if name == "language" else None

    class Store:
        reads = 0

        async def retrieve(self, sender_id: str) -> Tracker | None:
            Store.reads += 1
            return {"zh-patient": Tracker("zh"), "xx-patient": Tracker("xx")}.get(sender_id)

    class Agent:
        tracker_store = Store()

    agent = Agent()
    assert await conversation_language(agent, "zh-patient", TOO_LONG) == "zh"
    assert await conversation_language(agent, "zh-patient", TOO_LONG) == "zh"
    assert Store.reads == 1  # kept for a minute: a flood costs one read
    assert await conversation_language(agent, "xx-patient", TOO_LONG) == "en"  # no such locale
    assert await conversation_language(agent, "new-patient", TOO_LONG) == "en"
    assert await conversation_language(None, "zh-patient", TOO_LONG) == "en"
    assert msg(TOO_LONG, "zh") != msg(TOO_LONG, "en")


def test_half_a_utf16_pair_and_nul_never_reach_the_store():
    """JSON can carry "\\ud800" or "\\u0000"; no database column can keep them."""
    from channels.limits import clean_text

    text = json.loads('"yes \\ud800 I do\\u0000"')
    assert clean_text(text) == "yes \ufffd I do"
    clean_text(text).encode("utf-8")  # storable
    assert clean_text("我有红斑狼疮 😀") == "我有红斑狼疮 😀"
    assert clean_text(None) is None
