"""Things a patient may say at any time: questions about the study, safety, small talk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    INTENT_PAYLOADS,
    in_thread,
    language,
    protocol_for,
    say,
    say_key,
    yes_no_options,
)
from actions.contact import LEAD_SUBMITTED_SLOT
from actions.interruptions import OUTCOME_SLOT, Interruption, answer_instead
from actions.language import switch_request
from actions.safety import show_crisis_help
from actions.screening import ActionAskAnswer, ActionIntroduceStudy
from bot import screenings
from bot.messages import msg
from bot.models import ScreeningStatus

# The retrieval intent of questions about trials and the study; its sub-intents (faq/<topic>) are
# the protocol's FAQ topics.
FAQ_INTENT = "faq"
ACTION_LISTEN = "action_listen"


def faq_topic(message: dict) -> str | None:
    """The FAQ topic the response selector chose for a message: "compensation" for
    faq/compensation, or None when the message is not an FAQ.

    Rasa gives the message the base intent ``faq``, with the sub-intent as the intent's
    ``full_retrieval_intent_name`` and under ``response_selector`` (keyed by the retrieval
    intent, as config.yml names it, or ``default``).
    """
    intent = message.get("intent") or {}
    if (intent.get("name") or "") != FAQ_INTENT:
        return None
    selector = message.get("response_selector") or {}
    chosen = selector.get(FAQ_INTENT) or selector.get("default") or {}
    key = str(intent.get("full_retrieval_intent_name")
              or (chosen.get("response") or {}).get("intent_response_key") or "")
    base, _, topic = key.partition("/")
    return topic if base == FAQ_INTENT and topic else None


class ActionAnswerFaq(Interruption):
    """Answers a question about trials or this study from the protocol's FAQs, by topic.

    An action rather than Rasa's ``utter_faq`` response: the turn needs the crisis safety net
    and the answer-in-disguise check of :class:`Interruption`, and the words stay in the trial's
    file, so a new trial needs no domain change (a topic the trial lacks gets ``faq_unknown``).
    """

    def name(self) -> str:
        return "action_answer_faq"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        topic = faq_topic(tracker.latest_message or {})
        faq = (await protocol_for(tracker)).faq(topic) if topic else None
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
    """ "I'm off it now" may read as a goodbye: an answer to the question asked is taken."""

    message_key = "goodbye"
    rule_resumes_form = False

    def name(self) -> str:
        return "action_goodbye"


class ActionThank(Interruption):
    message_key = "thanks"
    may_be_an_answer = False

    def name(self) -> str:
        return "action_thank"


class ActionDefaultFallback(Interruption):
    """Said when the bot cannot tell what a message means, outside a question's form.

    A yes/no question that is not a form (may the study team contact you, other trials, start
    again?) is asked again with its buttons; with no question waiting, the patient is told where
    they are. Like Rasa's own fallback, it forgets the message (``UserUtteranceReverted``), so the
    rules that follow the question still apply to the next reply.
    """

    may_be_an_answer = False

    def name(self) -> str:
        return "action_default_fallback"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        before = last_action_before_message(tracker)
        # "说中文" was understood (actions/language.py switched the language): no "sorry", and
        # the patient reads again, in the new language, what they were asked.
        switched = switch_request(tracker) is not None
        if switched and before == "action_introduce_study":
            # Consent is to the introduction's words, so they are shown again, not just the ask.
            await ActionIntroduceStudy().run(dispatcher, tracker, {})
            return [UserUtteranceReverted()]
        pending = await pending_question(tracker, before)
        if pending is None:
            if not switched:
                say_key(dispatcher, tracker, "fallback")
            say_key(dispatcher, tracker, await where_the_patient_is(tracker))
            return [UserUtteranceReverted()]
        # "Not sure" to a yes/no question was understood: it is just not an answer yet.
        if not switched:
            say_key(dispatcher, tracker, "fallback_undecided" if intent == "unsure" else "fallback")
        await pending(dispatcher)
        return [UserUtteranceReverted()]


class ActionCarryOn(Action):
    """"No" to starting over: nothing is set aside, and the conversation goes on where it was.

    The start-over question and its answer are forgotten (two ``UserUtteranceReverted``), so the
    conversation is back where the patient asked: in the screening form at the same question, or
    after the question the bot had asked, which is asked again.
    """

    def name(self) -> str:
        return "action_carry_on"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # The action before "start over", which came one message before this "no".
        before = last_action_before_message(tracker, skip=1)
        pending = await pending_question(tracker, before, domain)
        if pending is None:
            say_key(dispatcher, tracker, "carry_on_nothing_lost")
            say_key(dispatcher, tracker, await where_the_patient_is(tracker))
        else:
            say_key(dispatcher, tracker, "carry_on")
            await pending(dispatcher)
        return [UserUtteranceReverted(), UserUtteranceReverted()]


def last_action_before_message(tracker: Tracker, skip: int = 0) -> str | None:
    """The last action the bot ran before the patient's latest message (``skip`` messages
    further back), leaving out listening and what earlier fallbacks took back."""
    users = 0
    for event in reversed(tracker.applied_events()):
        if event.get("event") == "user":
            users += 1
        elif users > skip and event.get("event") == "action" and (
            event.get("name") != ACTION_LISTEN
        ):
            return event.get("name")
    return None


Ask = Callable[[CollectingDispatcher], Awaitable[None]]


async def pending_question(
    tracker: Tracker, action: str | None, domain: DomainDict | None = None
) -> Ask | None:
    """How to ask again the question ``action`` asked, or None when it asked none."""
    lang = language(tracker)
    if action == "action_introduce_study":
        protocol = await protocol_for(tracker)
        if not protocol.is_recruiting:
            return None
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
        key = (
            "consent_ask_continue"
            if snap is not None and snap.answered and not snap.evaluation.finished
            else "consent_ask"
        )
        return _yes_no(tracker, msg(key, lang), "consent_yes", "consent_no")
    if action == "action_screening_outcome":
        outcome = tracker.get_slot(OUTCOME_SLOT)
        if outcome == "may_qualify":
            protocol = await protocol_for(tracker)
            return _yes_no(tracker, msg("contact_ask", lang, site_name=protocol.site_name(lang)))
        if outcome == "not_eligible":
            return _yes_no(tracker, msg("other_trials_ask", lang))
        return None
    if action == "action_submit_lead" and tracker.get_slot(LEAD_SUBMITTED_SLOT):
        return _yes_no(tracker, msg("notify_ask", lang))
    if action == "action_confirm_restart":
        return _yes_no(tracker, msg("restart_confirm", lang))
    if action == "screening_form" and tracker.get_slot(OUTCOME_SLOT) is None:
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
        if snap is None or snap.evaluation.next_question is None:
            return None

        async def ask_answer(dispatcher: CollectingDispatcher) -> None:
            await ActionAskAnswer().run(dispatcher, tracker, domain or {})

        return ask_answer
    return None


def _yes_no(tracker: Tracker, text: str, yes_key: str = "option_yes",
            no_key: str = "option_no") -> Ask:
    async def ask(dispatcher: CollectingDispatcher) -> None:
        say(dispatcher, tracker, text, yes_no_options(tracker, yes_key, no_key),
            payloads=INTENT_PAYLOADS)

    return ask


async def where_the_patient_is(tracker: Tracker) -> str:
    """The message key that says where the patient is, when no question waits for an answer."""
    snap = await in_thread(screenings.snapshot, tracker.sender_id)
    if snap is None or snap.status in (ScreeningStatus.STARTED, ScreeningStatus.DECLINED):
        return "where_not_started"
    if snap.evaluation.finished:
        return "where_finished_lead" if tracker.get_slot(LEAD_SUBMITTED_SLOT) else "where_finished"
    return "where_paused"
