"""Things a patient may say at any time: questions about the study, safety, small talk."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import language, protocol_for, say, say_key
from actions.interruptions import Interruption, answer_instead
from actions.safety import show_crisis_help

FAQ_PREFIX = "faq_"


class ActionAnswerFaq(Interruption):
    """Answers a question about trials or this study from the protocol's FAQs, by topic."""

    def name(self) -> str:
        return "action_answer_faq"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        protocol = await protocol_for(tracker)
        topic = intent.removeprefix(FAQ_PREFIX) if intent.startswith(FAQ_PREFIX) else None
        faq = protocol.faq(topic) if topic else None
        if faq is None:
            say_key(dispatcher, tracker, "faq_unknown")
        else:
            say(dispatcher, tracker, faq.answer.get(language(tracker)))
        return []


class ActionMedicalAdvice(Interruption):
    message_key = "medical_advice"

    def name(self) -> str:
        return "action_medical_advice"


class ActionCrisisHelp(Action):
    """A patient who says they may harm themselves is shown where to get help, first."""

    def name(self) -> str:
        return "action_crisis_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await show_crisis_help(dispatcher, tracker)
        # "Yes, I have thought about ending my life" may also answer the question asked.
        return await answer_instead(tracker) or []


class ActionBotChallenge(Interruption):
    message_key = "bot_challenge"

    def name(self) -> str:
        return "action_bot_challenge"


class ActionGoodbye(Interruption):
    message_key = "goodbye"
    may_be_an_answer = False

    def name(self) -> str:
        return "action_goodbye"


class ActionThank(Interruption):
    message_key = "thanks"
    may_be_an_answer = False

    def name(self) -> str:
        return "action_thank"


class ActionDefaultFallback(Interruption):
    """Said when the bot cannot tell what a message means, outside a question.

    Like Rasa's own fallback, it forgets the message, so the conversation waits for the next one
    instead of predicting the fallback again.
    """

    may_be_an_answer = False

    def name(self) -> str:
        return "action_default_fallback"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        say_key(dispatcher, tracker, "fallback")
        return [UserUtteranceReverted()]
