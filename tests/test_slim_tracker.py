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
                   ActionExecuted("screening_form"), SlotSet("answer", f"answer {i}")]
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


# --- The tail: an action call sends only the events its readings need (tail_start) ---

import ast  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from channels.action_calls import SESSION_SLOTS, tail_start  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
ACTIONS = list(DOMAIN["actions"])
# Every reading of the events in actions/ (the functions below) and rasa-sdk's Tracker
# methods the actions or rasa-sdk's forms call on them.
EVENT_READERS = {"asked_for", "set_in_this_session", "last_action_before_message"}
TRACKER_EVENT_METHODS = {"applied_events", "get_latest_input_channel", "get_last_event_for",
                         "slots_to_validate", "idx_after_latest_restart",
                         "events_after_latest_restart", "last_executed_action_has",
                         "current_state", "copy"}


def describe(event: dict) -> tuple:
    return event.get("event"), event.get("name")


def readings(events: list[dict], action: str) -> dict:
    """Everything the actions and rasa-sdk read of a tracker's events, for ``action``."""
    def tracker() -> Tracker:  # the readers do not change the list; add_slots does
        return Tracker("s", {}, {}, list(events), False, None, {}, None)

    found = {
        "channel": tracker().get_latest_input_channel(),
        "asked_for": {i: asked_for(tracker(), i) for i in ("session_start", "inform", "greet")},
        "before": [last_action_before_message(tracker(), s) for s in (0, 1)],
        "to_validate": tracker().slots_to_validate(),
    }
    added = tracker()
    added.add_slots([{"event": "slot", "name": "answer", "value": "x"}])
    found["to_validate_after_add"] = added.slots_to_validate()
    for slot in SESSION_SLOTS.get(action, ()):
        found[slot] = [set_in_this_session(tracker(), slot, v) for v in ("yes", "no")]
    return found


# The actions tail_start tells apart: one for all the others, and those that read further.
DISTINCT = ["validate_screening_form", *SESSION_SLOTS]


def assert_tail_reads_the_same(events: list[dict]) -> None:
    generic = tail_start(events, DISTINCT[0], describe)
    assert all(tail_start(events, action, describe) == generic
               for action in ACTIONS if action not in SESSION_SLOTS)
    for action in DISTINCT:
        start = tail_start(events, action, describe)
        assert readings(events[start:], action) == readings(events, action), (action, start)


def enclosing_function(tree: ast.AST, line: int) -> str | None:
    """The innermost function of ``tree`` around ``line``."""
    around = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
              and f.lineno <= line <= f.end_lineno]
    return max(around, key=lambda f: f.lineno).name if around else None


def test_the_actions_read_the_events_only_where_tail_start_says():
    """A new reading of the events in actions/ fails here, until tail_start covers it."""
    readers, session_calls = set(), []
    for path in sorted((PROJECT / "actions").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in (
                    {"events"} | TRACKER_EVENT_METHODS):
                readers.add((path.name, enclosing_function(tree, node.lineno), node.attr))
            if isinstance(node, ast.ClassDef):
                name = next((n.value.value for n in ast.walk(node) if isinstance(n, ast.Return)
                             and isinstance(n.value, ast.Constant)), None)
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and getattr(call.func, "id", None) == (
                            "set_in_this_session"):
                        session_calls.append((name, call.args[1].value))
    assert readers == {("session.py", "asked_for", "events"),
                       ("session.py", "set_in_this_session", "events"),
                       ("conversation.py", "last_action_before_message", "applied_events"),
                       ("common.py", "channel", "get_latest_input_channel")}
    assert sorted(session_calls) == sorted(
        (action, slot) for action, slots in SESSION_SLOTS.items() for slot in slots)


def story_events() -> list[list[dict]]:
    """The event lists of every story and rule in data/ and of the test stories, as Rasa
    would send them (each step's events after a session start)."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    domain = Domain.load(str(PROJECT / "domain.yml"))
    found = []
    paths = [*sorted((PROJECT / "data").glob("*/*.yml")), *sorted(
        (PROJECT / "tests" / "stories").glob("*.yml"))]
    for path in paths:
        if "nlu" in path.parts:
            continue
        for step in YAMLStoryReader(domain).read_from_file(str(path)):
            events = [{"event": "action", "name": "action_session_start"},
                      {"event": "session_started"}]
            for event in step.events:
                as_dict = event.as_dict()
                if as_dict.get("event") == "user":
                    as_dict["input_channel"] = "rest"
                events.append(as_dict)
            found.append(events)
    return found


def test_every_story_and_rule_reads_the_same_on_its_tail_at_every_call():
    stories = story_events()
    assert len(stories) > 50
    for events in stories:
        for end in range(1, len(events) + 1):  # the tracker at every call along the story
            assert_tail_reads_the_same(events[:end])


KINDS = ["user", "user", "action", "action_listen", "action_listen", "slot", "slot", "slot",
         "bot", "rewind", "undo", "restart", "session_started", "active_loop"]


def random_event(rng: random.Random) -> dict:
    kind = rng.choice(KINDS)
    if kind == "user":
        return {"event": "user", "input_channel": rng.choice(["rest", "telegram"]),
                "parse_data": {"intent": {"name": rng.choice(["inform", "session_start",
                                                              "greet"])}}}
    if kind == "action_listen":
        return {"event": "action", "name": "action_listen"}
    if kind == "action":
        return {"event": "action", "name": rng.choice(["screening_form", "action_carry_on",
                                                       "action_submit_lead", "a", "b"])}
    if kind == "slot":
        return {"event": "slot", "name": rng.choice(["answer", "contact_consent",
                                                     "optin_consent", "requested_slot"]),
                "value": rng.choice(["yes", "no", None])}
    return {"event": kind}


def test_random_event_sequences_read_the_same_on_their_tails():
    """Reverts, undos, restarts and sessions in every order (3,000 sequences, every third
    prefix)."""
    rng = random.Random(10)
    for _ in range(3000):
        events = [random_event(rng) for _ in range(rng.randint(0, 30))]
        for end in range(0, len(events) + 1, 3):
            assert_tail_reads_the_same(events[:end])
        assert_tail_reads_the_same(events)


@pytest.mark.parametrize("answers", [0, 2, 30])
def test_the_conversation_reads_the_same_on_its_tail(answers):
    state = conversation(answers).current_state(EventVerbosity.ALL)
    events = json.loads(json.dumps(state["events"]))
    for end in range(1, len(events) + 1):
        assert_tail_reads_the_same(events[:end])


def call_body(tracker: DialogueStateTracker, action: str) -> dict:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain

    from channels import action_calls

    action_calls.install()
    domain = Domain.load(str(PROJECT / "domain.yml"))
    return RemoteAction(action, None)._action_call_format(tracker, domain)


def test_the_call_body_is_rasas_with_the_slimmed_tail_of_its_events():
    tracker = conversation(30)
    body = call_body(tracker, "validate_screening_form")
    state = tracker.current_state(EventVerbosity.ALL)
    events = state.pop("events")
    sent = body["tracker"].pop("events")
    assert body["tracker"] == state  # every other field as Rasa computes it
    start = tail_start(events, "validate_screening_form", describe)
    assert sent == slim_events(events[start:])
    assert 0 < len(sent) < len(events) / 10


def test_the_call_body_no_longer_grows_with_the_conversation():
    sizes = {n: len(json.dumps(call_body(conversation(n), "validate_screening_form")))
             for n in (2, 30)}
    assert sizes[30] <= sizes[2] * 1.05, sizes
    # The consent's action still gets what it reads: back to the consent given.
    lead = call_body(conversation(30), "action_submit_lead")["tracker"]["events"]
    assert any(e["event"] == "slot" and e["name"] == "contact_consent" for e in lead)


def test_every_action_call_of_the_e2e_patients_reads_the_same_on_its_tail():
    """The trackers of the 2,647 action calls of tests/e2e/test_simulated_patients.py and
    test_rest_screenings.py (recorded from Rasa's RemoteAction.run, 2026-12-01; per
    conversation its longest event list, and per call the action, how much of that list it
    had and the events after (a form's slot candidates); each event reduced to what a reading
    looks at, slot values other than consents, requested_slot and language replaced)."""
    import gzip

    recorded = json.loads(gzip.decompress(
        (PROJECT / "tests" / "slim_tracker_e2e_calls.json.gz").read_bytes()))
    calls = 0
    for conversation_ in recorded:
        for action, length, after in conversation_["calls"]:
            events = conversation_["events"][:length] + after
            start = tail_start(events, action, describe)
            assert readings(events[start:], action) == readings(events, action), (action, start)
            calls += 1
    assert calls == 2647
    assert {action for c in recorded for action, _, _ in c["calls"]} >= {
        "validate_screening_form", "action_submit_lead", "action_save_optin"}
