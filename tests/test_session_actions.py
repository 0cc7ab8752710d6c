"""Rasa's own commands, typed by a patient, get a reply: never a silent turn."""

from __future__ import annotations

from actions.session import ActionRestart, ActionSessionStart
from tests.trackers import run, texts, tracker_dict


async def test_a_typed_restart_says_the_conversation_starts_afresh():
    events, messages = await run(ActionRestart(), tracker_dict("p-1", "/restart", "restart"))
    assert "start again from nothing" in texts(messages)
    assert [e["event"] for e in events] == ["restart"]


async def test_a_restart_is_answered_in_the_patients_language():
    _, messages = await run(ActionRestart(), tracker_dict(
        "p-1", "/restart", "restart", slots={"language": "zh"}))
    assert "重新开始" in texts(messages)


async def test_a_typed_session_start_says_how_to_begin():
    _, messages = await run(ActionSessionStart(), tracker_dict(
        "p-1", "/session_start", "session_start"))
    assert "say hello" in texts(messages).lower()


async def test_a_session_that_starts_before_a_message_says_nothing():
    """On expiry Rasa starts the new session first, then handles the patient's message."""
    state = tracker_dict("p-1", "hi", "greet")
    state["events"].append({"event": "action", "name": "action_listen"})
    _, messages = await run(ActionSessionStart(), state)
    assert messages == []
