"""A new conversation session carries over only what is not personal.

Rasa's default ``action_session_start`` carries every slot into the new session
(``carry_over_slots_to_new_session``), so a patient who came back hours later would have the
contact details and the consent to be contacted they gave the first time, and the contact form
would send them without asking. This is Rasa's documented way to choose what carries over
(a custom ``action_session_start``): the trial being screened does; contact details, consents and
answers in flight do not. The screening's own answers live in the store, and a returning patient
is asked whether to carry on with them.

Rasa's own ``action_restart`` and a typed ``/session_start`` say nothing, so a patient who types
either would get a silent turn; both are answered here, in the patient's language.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, Restarted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import say_key

# The only slots a new session keeps.
CARRIED_SLOTS = ("trial_id", "language")


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if asked_for(tracker, "session_start"):
            say_key(dispatcher, tracker, "session_new")
        events: list[EventType] = [SessionStarted()]
        events += carried_slots(tracker.slots)
        events.append(ActionExecuted("action_listen"))
        return events


class ActionRestart(Action):
    """Rasa's ``/restart``: the conversation starts from nothing, and the patient is told so.

    Screenings already given stay in the store; only the conversation's state is reset.
    """

    def name(self) -> str:
        return "action_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say_key(dispatcher, tracker, "conversation_reset")
        return [Restarted()]


def asked_for(tracker: Tracker, intent: str) -> bool:
    """Whether the patient's latest message, since the bot last listened, was ``intent``."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return ((event.get("parse_data") or {}).get("intent") or {}).get("name") == intent
        if event.get("event") == "action" and event.get("name") == "action_listen":
            return False
    return False


def carried_slots(slots: dict[str, Any]) -> list[EventType]:
    return [
        SlotSet(name, slots[name])
        for name in CARRIED_SLOTS
        if slots.get(name) is not None
    ]


def set_in_this_session(tracker: Tracker, slot: str, value: Any) -> bool:
    """Whether ``slot`` was set to ``value`` after the conversation's latest session start.

    A consent must be given in the session it is used in; a value carried over (or restored) from
    an earlier session does not count.
    """
    found = False
    for event in tracker.events:
        if event.get("event") == "session_started":
            found = False
        elif event.get("event") == "slot" and event.get("name") == slot:
            found = event.get("value") == value
    return found
