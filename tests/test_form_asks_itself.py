"""The screening form's validation asks the next question itself (the domain names no
``action_ask_answer``): the patient sees, turn by turn, exactly what they saw when Rasa's form
called ``action_ask_answer`` after the validation.

Rasa's own ``FormAction`` runs both ways, with the project's domain and with the domain plus
``action_ask_answer``; its calls go to rasa-sdk's executor with the project's actions in this
process (the body through JSON, as over HTTP), against a real screening store. Two patients, one
per domain, give the same replies: free text that is read back, a read-back confirmed, unclear
replies (help, then kept for the site), a consent given only inside the form, a switch to
Chinese, a reply that is no answer, and the last answer, after which the form ends.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

pytest.importorskip("rasa")

from rasa.core.actions.action import ActionExecutionRejection, RemoteAction  # noqa: E402
from rasa.core.actions.forms import FormAction  # noqa: E402
from rasa.core.channels.channel import CollectingOutputChannel  # noqa: E402
from rasa.core.policies.policy import PolicyPrediction  # noqa: E402
from rasa.core.processor import MessageProcessor  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    BotUttered,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402
from rasa.utils.endpoints import EndpointConfig  # noqa: E402
from rasa_sdk.executor import ActionExecutor  # noqa: E402

from actions.screening import form_asks_for_answer, rasa_asks_for_answer  # noqa: E402
from bot import screenings  # noqa: E402
from bot.settings import PROJECT_ROOT  # noqa: E402
from tests.test_readback_actions import QUALIFYING, TAP_NO, TAP_YES  # noqa: E402

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
FORM = "screening_form"


class InProcess(EndpointConfig):
    """The action endpoint, answered by rasa-sdk's executor in this process."""

    def __init__(self) -> None:
        super().__init__("http://in-process/webhook")
        self.executor = ActionExecutor()
        self.executor.register_package("actions")
        self.calls: list[str] = []

    async def request(self, method: str = "post", subpath: str | None = None,
                      content_type: str | None = "application/json", compress: bool = False,
                      **kwargs: Any) -> Any:
        body = json.loads(json.dumps(kwargs["json"]))
        self.calls.append(body["next_action"])
        return json.loads(json.dumps(await self.executor.run(body)))


def domains() -> tuple[Domain, Domain]:
    """The project's domain, and the same with ``action_ask_answer`` (as before issue 10)."""
    data = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    assert "action_ask_answer" not in data["actions"]
    data["actions"].append("action_ask_answer")
    return Domain.load(str(DOMAIN_FILE)), Domain.from_dict(data)


class Patient:
    """One conversation: Rasa's tracker, updated as the processor logs an action."""

    def __init__(self, sender: str, domain: Domain) -> None:
        self.sender = sender
        self.domain = domain
        self.endpoint = InProcess()
        self.processor = MessageProcessor.__new__(MessageProcessor)
        self.processor.domain = domain
        self.tracker = DialogueStateTracker.from_events(
            sender, [ActionExecuted("action_listen")], slots=domain.slots)

    def says(self, text: str, intent: str = "inform", language: str | None = None) -> None:
        self.tracker.update(UserUttered(text, {"name": intent, "confidence": 1.0},
                                        input_channel="rest"))
        if language:  # action_detect_language's custom mapping
            self.tracker.update(SlotSet("language", language))

    async def runs(self, action: Any) -> list[tuple[str | None, Any]]:
        """Run ``action`` as the processor does; what the patient saw (texts and buttons)."""
        output = CollectingOutputChannel()
        prediction = PolicyPrediction.for_action_name(self.domain, action.name())
        try:
            events = await action.run(output, None, self.tracker, self.domain)
        except ActionExecutionRejection:
            return [("rejected", None)]
        self.processor._log_action_on_tracker(self.tracker, action, events, prediction)
        return [(e.text, e.data.get("buttons")) for e in events if isinstance(e, BotUttered)]

    async def turn(self, text: str, intent: str = "inform", language: str | None = None,
                   slot: bool = True) -> list[tuple[str | None, Any]]:
        """A reply while the form is active: the slot mapping fills ``answer`` (unless the
        intent is one it excludes), then the form runs, then Rasa listens."""
        self.says(text, intent, language)
        if slot:
            self.tracker.update(SlotSet("answer", text))
        said = await self.runs(FormAction(FORM, self.endpoint))
        self.tracker.update(ActionExecuted("action_listen"))
        return said


async def test_the_patient_sees_what_they_saw_when_rasa_called_action_ask_answer(database_url):
    asks_itself, rasa_asks = domains()
    now, before = Patient("asks-itself", asks_itself), Patient("rasa-asks", rasa_asks)
    patients = (now, before)
    # The introduction, and a reply that is not a consent: the form opens and asks for it.
    for patient in patients:
        patient.says("hi", "greet")
        await patient.runs(RemoteAction("action_introduce_study", patient.endpoint))
        patient.tracker.update(ActionExecuted("action_listen"))
        patient.says("hmm, wait", "affirm")
        await patient.runs(RemoteAction("action_start_screening", patient.endpoint))
    opened = [await p.runs(FormAction(FORM, p.endpoint)) for p in patients]
    assert opened[0] == opened[1] and "questions" in str(opened[0])
    for patient in patients:
        patient.tracker.update(ActionExecuted("action_listen"))

    turns: list[tuple[str, str, str | None, bool]] = [
        ("maybe", "inform", None, True),  # the consent still unclear: asked again
        ("yes", "affirm", None, True),  # consent inside the form: the first question
        ("说中文", "inform", "zh", True),  # the same question again, in Chinese
        ("English please", "inform", "en", True),
        ("why do you ask?", "ask_why", None, False),  # no answer: the form is rejected
        ("banana", "inform", None, True),  # unclear: help and the question again
        ("banana", "inform", None, True),  # unclear again: kept for the site, the next one
    ]
    seen = []
    for text, intent, language, slot in turns:
        said = [await p.turn(text, intent, language, slot) for p in patients]
        assert said[0] == said[1], text
        seen.append(said[0])
    assert seen[4] == [("rejected", None)]
    assert any("狼疮" in (t or "") for t, _ in seen[2])
    # The rest of the screening, typed where it can be (read back, then confirmed).
    asked_at_end = False
    for _ in range(40):
        snap = screenings.snapshot(now.sender)
        assert snap.asking == screenings.snapshot(before.sender).asking
        if snap.asking is None:
            asked_at_end = True
            break
        text = TAP_YES if snap.pending is not None else QUALIFYING.get(snap.asking.id, TAP_NO)
        said = [await p.turn(text) for p in patients]
        assert said[0] == said[1], text
        # Every answer gets a question or a read-back, but the last (the outcome is the rules'
        # action_screening_outcome's to tell).
        assert bool(said[0]) is (screenings.snapshot(now.sender).asking is not None), text
    assert asked_at_end
    assert now.tracker.active_loop_name is None and before.tracker.active_loop_name is None
    assert now.tracker.current_slot_values() == before.tracker.current_slot_values()
    # One call a reply instead of two.
    assert "action_ask_answer" not in now.endpoint.calls
    assert before.endpoint.calls.count("action_ask_answer") > 20
    assert len(now.endpoint.calls) < len(before.endpoint.calls) - 20


def test_rasa_asks_when_its_domain_names_an_ask_for_answer():
    assert rasa_asks_for_answer({"actions": ["action_ask_answer"]})
    assert rasa_asks_for_answer({"actions": [], "responses": {"utter_ask_answer": []}})
    assert not rasa_asks_for_answer({"actions": ["validate_screening_form"], "responses": {}})
    assert not rasa_asks_for_answer({})


class Slots:
    def __init__(self, **slots: Any) -> None:
        self.slots = slots

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


@pytest.mark.parametrize(("events", "answer", "asks"), [
    ([slot("answer", None), slot("requested_slot", "answer")], "x", True),
    ([slot("answer", None), slot("requested_slot", None)], "x", False),  # the form ends
    # The consent refused inside the form: the last requested_slot decides it is not done,
    # the first (None) leaves Rasa to find the next slot, answer, which has no value.
    ([slot("requested_slot", None), slot("answer", None), slot("requested_slot", "answer")],
     "x", True),
    ([slot("answer", None)], "x", True),  # a language switch: no requested_slot set
    ([], "typed", False),  # nothing set, answer filled: nothing to ask
    ([], None, True),
    ([slot("requested_slot", "answer"), {"event": "active_loop", "name": None}], None, False),
])
def test_the_validation_asks_when_rasas_form_would(events, answer, asks):
    assert form_asks_for_answer(events, Slots(answer=answer)) is asks
