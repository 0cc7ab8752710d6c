"""What Rasa sends the action server is slimmed (channels.action_calls.slim_events), and every
reading the actions and rasa-sdk make of a tracker's events gives the same answer on the slim
events as on the whole ones; the body gets smaller as the conversation grows."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rasa")

from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity  # noqa: E402
from rasa_sdk import Tracker  # noqa: E402

from actions.conversation import last_action_before_message  # noqa: E402
from actions.session import asked_for, set_in_this_session  # noqa: E402
from channels.action_calls import slim_events  # noqa: E402

RANKING = [{"name": f"intent_{i}", "confidence": 0.01} for i in range(10)]


def user(text: str, intent: str) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 0.9}, parse_data={
        "intent_ranking": RANKING,
        "response_selector": {"faq": {"ranking": RANKING, "response": {"intent_response_key":
                                                                      "faq/cost"}}},
        "text": text, "message_id": "m" * 32, "metadata": {"typed": text},
    }, input_channel="telegram", message_id="m" * 32,
        metadata={"typed": text, "model_id": "x" * 32, "assistant_id": "y" * 20})


def conversation(answers: int) -> DialogueStateTracker:
    events = [ActionExecuted("action_session_start"), SessionStarted(),
              SlotSet("language", "en"), ActionExecuted("action_listen"),
              user("hi", "greet"), ActionExecuted("action_introduce_study"),
              BotUttered("Is it OK for me to ask you some questions? " * 5,
                         data={"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
              ActionExecuted("action_listen"), user("yes", "affirm"),
              SlotSet("contact_consent", "yes"), ActionExecuted("screening_form"),
              ActiveLoop("screening_form")]
    for i in range(answers):
        events += [BotUttered(f"Question {i}: a long question with its help " * 4,
                              data={"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
                   ActionExecuted("action_listen"), user(f"answer {i}", "inform"),
                   SlotSet("answer", f"answer {i}")]
        if i == 3:  # a fallback taken back (action_carry_on)
            events += [ActionExecuted("action_carry_on"), UserUtteranceReverted(),
                       UserUtteranceReverted()]
    events += [ActionExecuted("screening_form"), SlotSet("answer", "last")]
    return DialogueStateTracker.from_events("patient-slim", events)


@pytest.mark.parametrize("answers", [0, 2, 30])
def test_every_reading_of_the_events_is_the_same_on_the_slim_ones(answers):
    state = conversation(answers).current_state(EventVerbosity.ALL)
    whole = Tracker.from_dict(json.loads(json.dumps(state)))
    slim = Tracker.from_dict(json.loads(json.dumps({**state,
                                                    "events": slim_events(state["events"])})))
    assert len(slim.events) == len(whole.events)
    assert [e["event"] for e in slim.applied_events()] == [
        e["event"] for e in whole.applied_events()]
    assert slim.get_latest_input_channel() == whole.get_latest_input_channel() == "telegram"
    assert slim.slots_to_validate() == whole.slots_to_validate() == {"answer": "last"}
    assert slim.events[-1] == whole.events[-1]
    for skip in (0, 1, 2):
        assert last_action_before_message(slim, skip) == last_action_before_message(whole, skip)
    assert set_in_this_session(slim, "contact_consent", "yes") is set_in_this_session(
        whole, "contact_consent", "yes") is True
    for intent in ("inform", "session_start"):
        assert asked_for(slim, intent) == asked_for(whole, intent)
    last_user = [e for e in slim.events if e["event"] == "user"][-1]
    assert last_user == [e for e in whole.events if e["event"] == "user"][-1]  # kept whole
    assert slim.latest_message == whole.latest_message
    for kind in ("user", "action", "slot", "bot"):
        for skip in (0, 1, 3):
            found = slim.get_last_event_for(kind, exclude=["action_listen"], skip=skip)
            expected = whole.get_last_event_for(kind, exclude=["action_listen"], skip=skip)
            assert (found or {}).get("name") == (expected or {}).get("name")
            assert (found or {}).get("event") == (expected or {}).get("event")
    assert slim.idx_after_latest_restart() == whole.idx_after_latest_restart()
    # The patient's earlier messages are not sent again with every call: only the latest one.
    earlier = [e for e in slim.events if e["event"] == "user"][:-1]
    assert earlier and all(
        "text" not in e and "metadata" not in e and set(e["parse_data"]) == {"intent", "entities"}
        for e in earlier)


def test_the_slim_body_grows_far_less_with_the_conversation():
    def sizes(answers: int) -> tuple[int, int]:
        events = conversation(answers).current_state(EventVerbosity.ALL)["events"]
        return len(json.dumps(events)), len(json.dumps(slim_events(events)))

    whole, slim = sizes(30)
    assert slim < whole / 2
