"""Things a patient may say at any time: questions about the study, safety, small talk."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import language, protocol_for, say, say_key
from actions.safety import crisis_safety_net, show_crisis_help
from actions.screening import answer_instead

FAQ_PREFIX = "faq_"


class ActionAnswerFaq(Action):
    """Answers a question about trials or this study from the protocol's FAQs, by topic."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        if (answered := await answer_instead(tracker)) is not None:
            return answered
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        protocol = await protocol_for(tracker)
        topic = intent.removeprefix(FAQ_PREFIX) if intent.startswith(FAQ_PREFIX) else None
        faq = protocol.faq(topic) if topic else None
        if faq is None:
            say_key(dispatcher, tracker, "faq_unknown")
        else:
            say(dispatcher, tracker, faq.answer.get(language(tracker)))
        return []


class ActionMedicalAdvice(Action):
    def name(self) -> str:
        return "action_medical_advice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        if (answered := await answer_instead(tracker)) is not None:
            return answered
        say_key(dispatcher, tracker, "medical_advice")
        return []


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


class ActionBotChallenge(Action):
    def name(self) -> str:
        return "action_bot_challenge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        if (answered := await answer_instead(tracker)) is not None:
            return answered
        say_key(dispatcher, tracker, "bot_challenge")
        return []


class ActionGoodbye(Action):
    def name(self) -> str:
        return "action_goodbye"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        say_key(dispatcher, tracker, "goodbye")
        return []


class ActionThank(Action):
    def name(self) -> str:
        return "action_thank"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say_key(dispatcher, tracker, "thanks")
        return []


class ActionDefaultFallback(Action):
    """Said when the bot cannot tell what a message means, outside a question.

    Like Rasa's own fallback, it forgets the message, so the conversation waits for the next one
    instead of predicting the fallback again.
    """

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        say_key(dispatcher, tracker, "fallback")
        return [UserUtteranceReverted()]
