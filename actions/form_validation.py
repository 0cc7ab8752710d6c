"""The base class of this bot's form validation actions.

Like RasaHQ/financial-demo's ``CustomFormValidationAction``, it counts a patient's failed attempts
at the current question, so that the first unclear reply gets help and the next one is not met
with the same question again and again (the screening keeps it for the site to confirm).
"""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.common import say, typed_text
from actions.language import switch_request
from actions.safety import crisis_safety_net
from bot.contact import is_stop_request

ATTEMPTS_SLOT = "attempts"


class PrescreenFormValidationAction(FormValidationAction, metaclass=abc.ABCMeta):
    """Adds the retry-with-help count to ``FormValidationAction``.

    Abstract, so that the action server does not register it as an action of its own.
    """

    @abc.abstractmethod
    def name(self) -> str:
        """``validate_<form>``."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # Whatever field is asked, a message about self-harm is answered with help first.
        await crisis_safety_net(dispatcher, tracker)
        # "说中文" is not an answer: the language is switched (actions/language.py) and the form
        # asks the same field again, in the new language, without counting a failed attempt.
        requested = tracker.get_slot("requested_slot")
        if requested and switch_request(tracker) is not None:
            return [SlotSet(requested, None)]
        return await super().run(dispatcher, tracker, domain)

    @staticmethod
    def attempts(tracker: Tracker) -> int:
        return int(tracker.get_slot(ATTEMPTS_SLOT) or 0)

    def reject(
        self,
        slot: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        help_text: str,
    ) -> dict[str, Any]:
        """Explain what went wrong and count the failure.

        The form asks the question again right after this message (rasa-sdk#240), so the
        message is worded to lead into it. What a second failure leads to is the form's own
        choice (the screening keeps the reply for the site; a contact field asks again).
        """
        say(dispatcher, tracker, help_text)
        return {slot: None, ATTEMPTS_SLOT: self.attempts(tracker) + 1}

    @staticmethod
    def accepted(slot: str, value: Any) -> dict[str, Any]:
        return {slot: value, ATTEMPTS_SLOT: 0}

    @staticmethod
    def stop_requested(slot: str, tracker: Tracker) -> dict[str, Any] | None:
        """End the form when the patient asks to stop instead of giving a field.

        The contact and opt-in fields take any text (a surname may look like a command to the
        NLU), so a stop is recognised here, by its exact words. The form's closing action then
        sees no consent and keeps nothing.
        """
        if not is_stop_request(typed_text(tracker)):
            return None
        return {slot: None, "requested_slot": None, ATTEMPTS_SLOT: 0}
