"""channels.tracker.IncrementalTracker gives Rasa's own results, at every event of every story.

Every test story, story and rule (tests/stories, data/stories, data/rules), as Rasa's training
data generator builds their trackers, is replayed event by event into a plain
``DialogueStateTracker`` and an ``IncrementalTracker`` sharing the event objects; after each
event ``applied_events()``, ``past_states`` with every argument set the policies use (the
trained model's domain and rule-only data), ``copy()``, ``get_last_event_for`` and
``idx_after_latest_restart`` must be Rasa's, and the states must stay right after a caller
wipes the ones it got. Then sequences the stories do not have: reverts, restarts, session
starts, a form's happy path with the featurisation events of prediction, a message changed in
place after its states were kept, a loop name that turns up after its action ran.
"""

from __future__ import annotations

import dataclasses
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from channels.tracker import IncrementalTracker

PROJECT = Path(__file__).resolve().parent.parent
MODEL = PROJECT / "models" / "prescreen.tar.gz"


@pytest.fixture(scope="module")
def model_data() -> tuple[Domain, dict[str, Any] | None]:
    """The trained model's domain and rule-only data (the domain file when there is no model)."""
    if not MODEL.exists():
        return Domain.load(str(PROJECT / "domain.yml")), None
    with tarfile.open(MODEL) as tar:
        names = {Path(n).as_posix().lstrip("/"): n for n in tar.getnames()}
        domain_yaml = tar.extractfile(names["components/domain_provider/domain.yml"]).read()
        rule_only = next(n for p, n in names.items() if p.endswith("/rule_only_data.json"))
        rule_only_data = json.loads(tar.extractfile(rule_only).read())
    return Domain.from_yaml(domain_yaml.decode("utf-8")), rule_only_data


def _argument_sets(rule_only_data: Any) -> list[tuple[bool, bool, Any]]:
    """(omit_unset_slots, ignore_rule_only_turns, rule_only_data): RulePolicy's (rule data, its
    rule-only data not read), MemoizationPolicy's (ML data: rule-only turns ignored), and
    training's omit_unset_slots."""
    return [(False, False, None), (False, False, rule_only_data), (False, True, rule_only_data),
            (False, True, None), (True, False, None), (True, True, rule_only_data)]


@pytest.fixture(scope="module")
def story_events(model_data) -> list[tuple[str, list[Event]]]:
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.core.training_data.loading import load_data_from_files
    from rasa.shared.core.training_data.structures import StoryGraph

    domain, _ = model_data
    files = sorted(str(p) for folder in ("tests/stories", "data/stories", "data/rules")
                   for p in (PROJECT / folder).glob("*.yml"))
    steps = load_data_from_files(files, domain)
    trackers = TrainingDataGenerator(
        StoryGraph(steps), domain, remove_duplicates=False, augmentation_factor=0,
        use_story_concatenation=False,
    ).generate()
    found = [(t.sender_id, list(t.events)) for t in trackers]
    assert len(found) > 50, "the stories and rules were not read"
    return found


def _alias_pattern(states: list[dict]) -> list[list[int]]:
    """Which parts of the states are the same object: each part's first occurrence."""
    first: dict[int, int] = {}
    pattern = []
    for state in states:
        row = []
        for key in sorted(state):
            row.append(first.setdefault(id(state[key]), len(first)))
        pattern.append(row)
    return pattern


def _which(tracker: DialogueStateTracker, event: Event | None) -> Any:
    """An event of the tracker by position; another (Rasa's empty ones) by content."""
    for i, e in enumerate(tracker.events):
        if e is event:
            return i
    return None if event is None else {k: v for k, v in event.as_dict().items()
                                       if k != "timestamp"}


def _snapshot(tracker: DialogueStateTracker) -> dict[str, Any]:
    """Everything a tracker's state is made of (events by identity)."""
    return {
        "events": [id(e) for e in tracker.events],
        "slots": {k: (s.value, s.has_been_set) for k, s in tracker.slots.items()},
        "paused": tracker.is_paused(),
        "followup": tracker.followup_action,
        "latest_action": tracker.latest_action,
        "latest_message": _which(tracker, tracker.latest_message),
        "latest_bot": _which(tracker, tracker.latest_bot_utterance),
        "active_loop": dataclasses.asdict(tracker.active_loop) if tracker.active_loop else None,
        "model_id": tracker.model_id,
        "sender": (tracker.sender_id, tracker.sender_source, tracker.is_rule_tracker),
    }


def _check(plain: DialogueStateTracker, kept: IncrementalTracker, domain: Domain,
           arguments: list[tuple[bool, bool, Any]], where: str, tracked: bool = True) -> None:
    assert [id(e) for e in kept.applied_events()] == [id(e) for e in plain.applied_events()], where
    for omit, ignore, rule_only in arguments:
        expected = plain.past_states(domain, omit, ignore, rule_only)
        got = kept.past_states(domain, omit, ignore, rule_only)
        assert got == expected, f"{where}: past_states{(omit, ignore, bool(rule_only))}"
        assert _alias_pattern(got) == _alias_pattern(expected), where
        for state in got:  # a caller that changes what it got must not change the next result
            for part in state.values():
                part.clear()
            state.clear()
    assert kept.idx_after_latest_restart() == plain.idx_after_latest_restart(), where
    assert kept.events_after_latest_restart() == plain.events_after_latest_restart(), where
    for kind, exclude, skip in ((UserUttered, None, 0), (ActionExecuted, [ACTION_LISTEN_NAME], 0),
                                (ActionExecuted, [ACTION_LISTEN_NAME], 1), (BotUttered, None, 2)):
        assert kept.get_last_event_for(kind, exclude, skip) is plain.get_last_event_for(
            kind, exclude, skip), where
    assert kept.get_last_event_for(UserUttered, event_verbosity=EventVerbosity.ALL) is (
        plain.get_last_event_for(UserUttered, event_verbosity=EventVerbosity.ALL)), where
    copied, expected_copy = kept.copy(), plain.copy()
    assert isinstance(copied, IncrementalTracker) is tracked  # else Rasa's own copy
    assert _snapshot(copied) == _snapshot(expected_copy), where
    assert [id(e) for e in copied.applied_events()] == [
        id(e) for e in expected_copy.applied_events()], where


def _replay(events: list[Event], domain: Domain, rule_only_data: Any, name: str,
            every: int = 1) -> IncrementalTracker:
    plain = DialogueStateTracker(name, domain.slots)
    kept = IncrementalTracker(name, domain.slots)
    arguments = _argument_sets(rule_only_data)
    for i, event in enumerate(events):
        plain.update(event)
        kept.update(event)
        assert _snapshot(kept) == _snapshot(plain)
        if i % every == 0 or i == len(events) - 1:
            _check(plain, kept, domain, arguments, f"{name} at event {i} ({event})")
    return kept


def test_every_story_and_rule_at_every_event(model_data, story_events) -> None:
    domain, rule_only_data = model_data
    for name, events in story_events:
        _replay(events, domain, rule_only_data, name)


def test_stories_joined_into_one_long_conversation(model_data, story_events) -> None:
    """Sessions after sessions, restarts between stories: one tracker through all of them."""
    domain, rule_only_data = model_data
    events: list[Event] = []
    for n, (_, story) in enumerate(story_events[:40]):
        if n % 3 == 1:
            events.append(Restarted())
        elif n % 3 == 2:
            events += [ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted()]
        events += story
    _replay(events, domain, rule_only_data, "joined", every=7)


def _user(text: str, intent: str = "inform") -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 1.0})


def _form_turns(form: str, answers: int) -> list[Event]:
    """A form's happy path as the processor logs it, featurisation events included."""
    events: list[Event] = [
        ActionExecuted(ACTION_LISTEN_NAME), _user("yes", "affirm"),
        DefinePrevUserUtteredFeaturization(False),
        ActionExecuted("action_start_screening"), SlotSet("answer", None),
        ActionExecuted(form), ActiveLoop(form), SlotSet("requested_slot", "answer"),
        BotUttered("first question"), ActionExecuted(ACTION_LISTEN_NAME),
    ]
    for n in range(answers):
        events += [_user(f"answer {n}"), SlotSet("answer", f"answer {n}"),
                   DefinePrevUserUtteredFeaturization(False), ActionExecuted(form),
                   BotUttered(f"question {n}"), SlotSet("requested_slot", "answer"),
                   ActionExecuted(ACTION_LISTEN_NAME)]
    events += [_user("stop", "stop"), DefinePrevUserUtteredFeaturization(False),
               ActionExecutionRejected(form), ActionExecuted("utter_ask_continue"),
               BotUttered("continue?"), ActionExecuted(ACTION_LISTEN_NAME),
               _user("yes", "affirm"), DefinePrevUserUtteredFeaturization(False),
               LoopInterrupted(True), ActionExecuted(form), ActiveLoop(None),
               SlotSet("requested_slot", None), ActionExecuted("action_screening_outcome"),
               ActionExecuted(ACTION_LISTEN_NAME)]
    return events


def test_form_happy_path_reverts_restarts_and_sessions(model_data) -> None:
    domain, rule_only_data = model_data
    events = [ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted(),
              ActionExecuted(ACTION_LISTEN_NAME), _user("hi", "greet"),
              DefinePrevUserUtteredFeaturization(False), ActionExecuted("action_introduce_study"),
              BotUttered("hello")]
    events += _form_turns("screening_form", 6)
    events += [_user("undo me"), UserUtteranceReverted(), ActionExecuted(ACTION_LISTEN_NAME),
               _user("again"), ActionExecuted("utter_x"), ActionReverted(),
               ActionExecuted("utter_y"), FollowupAction("utter_z"), ActionExecuted("utter_z"),
               ActionExecuted(ACTION_LISTEN_NAME), UserUtteranceReverted(),
               UserUtteranceReverted()]
    events += _form_turns("contact_form", 3)
    events += [Restarted(), ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted()]
    events += _form_turns("optin_form", 2)
    _replay(events, domain, rule_only_data, "forms")


def test_message_changed_in_place_after_its_states_were_kept(model_data) -> None:
    """A featurisation event after an action: Rasa's replay reads the message as it is now."""
    domain, rule_only_data = model_data
    message = _user("hello", "greet")
    entities_message = _user("ten mg")
    events = [ActionExecuted(ACTION_LISTEN_NAME), message, ActionExecuted(ACTION_LISTEN_NAME),
              ActionExecuted("action_introduce_study"), DefinePrevUserUtteredFeaturization(True),
              ActionExecuted(ACTION_LISTEN_NAME), entities_message,
              ActionExecuted(ACTION_LISTEN_NAME), BotUttered("x"),
              EntitiesAdded([{"entity": "dose", "value": "10"}]),
              DefinePrevUserUtteredFeaturization(False), ActionExecuted("utter_x"),
              ActionExecuted(ACTION_LISTEN_NAME)]
    _replay(events, domain, rule_only_data, "changed")
    # And a change made behind every event's back (another tracker sharing the object).
    plain = DialogueStateTracker("behind", domain.slots)
    kept = IncrementalTracker("behind", domain.slots)
    for event in events:
        plain.update(event)
        kept.update(event)
    kept.past_states(domain, False, True, rule_only_data)
    message.use_text_for_featurization = False
    message.entities.append({"entity": "dose", "value": "5"})
    _check(plain, kept, domain, _argument_sets(rule_only_data), "changed behind")


def test_loop_name_after_its_action_ran(model_data) -> None:
    """Rasa's applied events read the names of loops activated later: computed again."""
    domain, rule_only_data = model_data
    events = [ActionExecuted(ACTION_LISTEN_NAME), _user("hi", "greet"),
              ActionExecuted("screening_form"), ActionExecuted(ACTION_LISTEN_NAME),
              _user("a"), ActionExecuted("screening_form"), ActionExecuted(ACTION_LISTEN_NAME),
              _user("b"), ActionExecuted("action_start_screening"),
              ActiveLoop("screening_form"), ActionExecuted("screening_form"),
              ActionExecuted(ACTION_LISTEN_NAME)]
    _replay(events, domain, rule_only_data, "late loop")


def test_direct_changes_to_the_events_fall_back_to_rasa(model_data) -> None:
    domain, rule_only_data = model_data
    plain = DialogueStateTracker("direct", domain.slots)
    kept = IncrementalTracker("direct", domain.slots)
    events = _form_turns("screening_form", 3)
    for event in events:
        plain.update(event)
        kept.update(event)
    arguments = _argument_sets(rule_only_data)
    _check(plain, kept, domain, arguments, "before")
    added = _user("x")
    for tracker in (plain, kept):
        tracker.events.pop()
        tracker.events.rotate(2)
        tracker.events.extend([added])
    _check(plain, kept, domain, arguments, "after pop, rotate, extend")
    kept.events = list(kept.events)  # no longer a tracked deque: Rasa's own code
    plain.events = list(plain.events)
    _check(plain, kept, domain, arguments, "after replacing the events", tracked=False)


def test_copy_is_rasas_replay_not_the_live_state(model_data) -> None:
    """The processor clears the followup action and the guard sets it without an event; Rasa's
    copy replays the events, so the copy must not carry that over."""
    domain, _ = model_data
    kept = IncrementalTracker("live", domain.slots)
    plain = DialogueStateTracker("live", domain.slots)
    for event in _form_turns("screening_form", 2):
        kept.update(event)
        plain.update(event)
    for tracker in (kept, plain):
        tracker.model_id = "model"
        tracker.trigger_followup_action("utter_x")
        tracker.slots["answer"].value = "changed without an event"
    assert _snapshot(kept.copy()) == _snapshot(plain.copy())
    copied = kept.copy()
    copied.update(_user("only in the copy"))
    assert len(copied.events) == len(kept.events) + 1
    assert _snapshot(kept.copy()) == _snapshot(plain.copy())


def test_from_dict_builds_the_subclass(model_data) -> None:
    domain, rule_only_data = model_data
    events = _form_turns("screening_form", 2)
    dumped = [e.as_dict() for e in events]
    kept = IncrementalTracker.from_dict("d", dumped, domain.slots)
    plain = DialogueStateTracker.from_dict("d", dumped, domain.slots)
    assert isinstance(kept, IncrementalTracker)
    assert [e.as_dict() for e in kept.applied_events()] == [
        e.as_dict() for e in plain.applied_events()]
    for omit, ignore, rule_only in _argument_sets(rule_only_data):
        assert kept.past_states(domain, omit, ignore, rule_only) == plain.past_states(
            domain, omit, ignore, rule_only)


def test_a_long_form_keeps_one_replay_and_never_recomputes(model_data, monkeypatch) -> None:
    """The point of it all: turn after turn of a form, the kept work goes on, not again."""
    domain, rule_only_data = model_data
    recomputed: list[int] = []
    original = IncrementalTracker._recompute
    monkeypatch.setattr(IncrementalTracker, "_recompute",
                        lambda self: recomputed.append(1) or original(self))
    kept = IncrementalTracker("long", domain.slots)
    replays = set()
    events = _form_turns("screening_form", 30)
    for event in events[:-14]:  # the happy path, before the form is left
        kept.update(event)
        kept.past_states(domain, False, True, rule_only_data)
        kept.past_states(domain, False, False, rule_only_data)
        replays.add(tuple(id(r) for r in kept._inc_replays.values()))
        kept.applied_events()
    # The first call, and the form's name turning up after the form ran (one event at a time
    # here; the processor logs both before any call): the replays went on through both.
    assert len(recomputed) == 2
    assert len(replays) == 1
    cursor = max(r.cursor for r in kept._inc_replays.values())
    assert len(kept.applied_events()) - cursor <= 3  # only the last turn's tail is replayed


def _untimed(event: Event) -> dict[str, Any]:
    return {k: v for k, v in event.as_dict().items() if k != "timestamp"}


def _without_times(tracker: DialogueStateTracker) -> dict[str, Any]:
    state = tracker.current_state(EventVerbosity.ALL)
    state.pop("latest_event_time")
    state["events"] = [{k: v for k, v in e.items() if k != "timestamp"} for e in state["events"]]
    if state["latest_message"]:
        state["latest_message"] = dict(state["latest_message"])
    return {**state, "class_slots": [(k, type(s)) for k, s in tracker.slots.items()]}


def test_the_form_validation_tracker_is_rasas(model_data, story_events) -> None:
    """channels.tracker.install: FormAction._temporary_tracker from a copy, as Rasa builds it."""
    from rasa.core.actions.forms import FormAction

    import channels.tracker as module

    domain, _ = model_data
    before = FormAction._temporary_tracker
    module.install()
    patched = FormAction._temporary_tracker
    # Rasa's own, also when an earlier test in this process installed the hook already
    rasas = getattr(before, "rasas", before)
    try:
        assert patched is not rasas
        form = FormAction("screening_form", None)
        conversations = [*story_events[:80], ("forms", _form_turns("screening_form", 4)),
                         ("restarted", [*_form_turns("screening_form", 1), Restarted(),
                                        *_form_turns("screening_form", 1)])]
        for name, events in conversations:
            tracker = IncrementalTracker(name, domain.slots)
            for i, event in enumerate(events):
                tracker.update(event)
                if i % 3:
                    continue
                extra = [SlotSet("answer", f"x{i}")]
                got = patched(form, tracker, extra, domain)
                expected = rasas(form, tracker, extra, domain)
                assert _without_times(got) == _without_times(expected), f"{name} at {i}"
                assert [_untimed(e) for e in got.applied_events()] == [
                    _untimed(e) for e in expected.applied_events()]
    finally:
        FormAction._temporary_tracker = before
