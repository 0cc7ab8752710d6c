"""The conversation's language, set from every message before anything else reads it.

Rasa runs a custom slot mapping's action (``action_detect_language``, the ``language`` slot's
mapping in domain.yml) inside ``action_extract_slots`` after each user message, before the
policies predict and before a form validates: so the first reply is already in the patient's
language, and a request to switch is honoured wherever it comes. It is a check in the action
rather than an NLU intent because it must work on the very first message, in a language the
model may not know yet, and must never be mistaken for an answer: what it reads is exact (the
page's language, a whole message that is only a request, the script of the first message), and
an intent could only guess at it.
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import language_signal
from actions.common import in_thread, protocol_for, typed_text
from actions.language_signal import SLOT, passed
from bot import language as lang_of
from bot import screenings
from bot.messages import msg


def switch_request(tracker: Tracker) -> str | None:
    """The language the latest message asks for, where a message can be such a request."""
    return language_signal.request(
        tracker.latest_message or {}, tracker.active_loop.get("name"),
        tracker.get_slot("requested_slot"),
    )


class ActionDetectLanguage(Action):
    """Sets ``language`` from the page, a request, or the first message's script.

    A language the trial is not written in is not mixed in: the patient is told, in the language
    they asked for, and screened in the trial's default language. The Rasa server calls it only
    when :func:`actions.language_signal.may_change` says the message can change the language.
    """

    def name(self) -> str:
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        current = tracker.get_slot(SLOT)
        asked = passed(message)
        request = None if asked else switch_request(tracker)
        asked = asked or request
        if asked is None and current is None:
            asked = lang_of.written_in(typed_text(tracker))
        if asked is None:
            return []
        protocol = await protocol_for(tracker)
        spoken = protocol.screening_language(asked)
        if spoken != asked and (current is None or request):
            dispatcher.utter_message(text=msg(
                "language_unavailable", asked, short_title=protocol.short_title.get(spoken),
                language_name=msg(f"language_name_{spoken}", asked),
            ))
        elif request and spoken != current:
            dispatcher.utter_message(text=msg("language_switched", spoken))
        if spoken == current:
            return []
        # The screening keeps the language the patient reads now: staff call them in it, and
        # their email copy is written in it.
        await in_thread(screenings.set_language, tracker.sender_id, spoken)
        return [SlotSet(SLOT, spoken)]
