"""The Rasa server calls ``action_detect_language`` only when a message can change the language
(``actions.language_signal.may_change``, asked in ``channels/action_calls.py``): the check says
"no" only where the action itself does nothing, and the guard then makes no call at all."""

from __future__ import annotations

import pytest

from actions.language import ActionDetectLanguage
from actions.language_signal import may_change
from tests.trackers import run, tracker_dict

# (text, slots, active loop, metadata, entities): every kind of message the action reads.
CASES = [
    ("34", {"language": "en", "requested_slot": "answer"}, "screening_form", {}, []),
    ("yes", {"language": "zh", "requested_slot": "answer"}, "screening_form", {}, []),
    ("是的", {"language": "zh"}, None, {}, []),
    ("说中文", {"language": "en", "requested_slot": "answer"}, "screening_form", {}, []),
    ("English please", {"language": "zh"}, None, {}, []),
    ("English", {"language": "en", "requested_slot": "first_name"}, "contact_form", {}, []),
    ("中文", {"language": "en", "requested_slot": "other_language"}, "contact_form", {}, []),
    ("hi", {"language": None}, None, {}, []),
    ("你好", {"language": None}, None, {}, []),
    ("hi", {"language": "en"}, None, {"language": "zh"}, []),
    ("/greet", {"language": "en"}, None, {}, [{"entity": "language", "value": "zh"}]),
    ("/greet", {"language": "zh"}, None, {}, [{"entity": "language", "value": "zh"}]),
    ("2", {"language": "en"}, None, {"typed": "说中文"}, []),
]


def _state(text, slots, loop, metadata, entities) -> dict:
    state = tracker_dict("patient-signal", text, "inform", slots=slots, active_loop=loop)
    state["latest_message"]["metadata"] = metadata
    state["latest_message"]["entities"] = entities
    state["events"][-1]["parse_data"] = state["latest_message"]
    return state


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_a_message_that_cannot_change_the_language_gets_nothing_from_it(database_url, case):
    state = _state(*case)
    message, slots = state["latest_message"], state["slots"]
    skipped = not may_change(message, slots.get("language"), (state["active_loop"] or {}).get(
        "name"), slots.get("requested_slot"))
    events, said = await run(ActionDetectLanguage(), state)
    if skipped:
        assert (events, said) == ([], [])


def test_the_check_lets_through_what_can_change_the_language():
    def changes(text, slots, loop=None, metadata=None, entities=None) -> bool:
        state = _state(text, slots, loop, metadata or {}, entities or [])
        s = state["slots"]
        return may_change(state["latest_message"], s.get("language"), loop, s.get("requested_slot"))

    assert not changes("34", {"language": "en", "requested_slot": "answer"}, "screening_form")
    assert not changes("English", {"language": "en", "requested_slot": "first_name"},
                       "contact_form")
    assert changes("说中文", {"language": "en", "requested_slot": "answer"}, "screening_form")
    assert changes("hi", {"language": None})
    assert changes("hi", {"language": "en"}, metadata={"language": "zh"})
    assert changes("/greet", {"language": "en"}, entities=[{"entity": "language", "value": "zh"}])
    assert changes("2", {"language": "en"}, metadata={"typed": "说中文"})


async def test_the_rasa_server_skips_the_call_only_when_nothing_can_change(domain_and_guard):
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig

    from bot.deploy.services import free_port

    domain = domain_and_guard
    nobody = EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook")  # nothing listens
    action = RemoteAction("action_detect_language", nobody)

    def tracker(text: str, language: str | None) -> DialogueStateTracker:
        events = [ActionExecuted("action_listen"),
                  UserUttered(text, {"name": "inform", "confidence": 1.0})]
        if language:
            events.insert(0, SlotSet("language", language))
        return DialogueStateTracker.from_events("patient-signal", events, slots=domain.slots)

    output = CollectingOutputChannel()
    assert await action.run(output, None, tracker("34", "en"), domain) == []  # no call made
    with pytest.raises(RasaException):  # a call, to a server that is not there
        await action.run(output, None, tracker("说中文", "en"), domain)
    with pytest.raises(RasaException):
        await action.run(output, None, tracker("hi", None), domain)


@pytest.fixture()
def domain_and_guard():
    pytest.importorskip("rasa")
    from rasa.shared.core.domain import Domain

    from bot.settings import PROJECT_ROOT
    from channels import action_calls

    action_calls.install()
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))
