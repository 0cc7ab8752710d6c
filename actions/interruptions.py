"""What a patient may say in the middle of a screening: a question, a correction, small talk.

Every such action does two things first, in one place: the crisis safety net (help is shown
whatever NLU made of the message), and, during the screening, a message that also answers the
question asked ("yes, my joints hurt", read by NLU as a question about safety) is recorded as
that answer instead of being treated as an interruption.
"""

from __future__ import annotations

import abc

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import in_thread, language, say_key, typed_text, was_typed, yes_no_reply
from actions.safety import crisis_safety_net
from bot import screenings
from bot.engine import Status
from bot.questions import interpret, recognised

OUTCOME_SLOT = "screening_outcome"


def outcome_value(status: Status) -> str | None:
    """The slot value the conversation's rules branch on."""
    if status is Status.NOT_ELIGIBLE:
        return "not_eligible"
    if status in (Status.MAY_QUALIFY, Status.MAY_QUALIFY_CONFIRM):
        return "may_qualify"
    return None


def answered_events(snap: screenings.Snapshot) -> list[EventType]:
    """The slots after an answer counts: the rules branch on the outcome."""
    return [SlotSet(OUTCOME_SLOT, outcome_value(snap.evaluation.status)), SlotSet("attempts", 0)]


async def reply_to_readback(
    dispatcher: CollectingDispatcher, tracker: Tracker, snap: screenings.Snapshot | None
) -> list[EventType] | None:
    """A yes or no to the read-back waiting for one ("So you are 80 years old. Is that right?").

    Yes: the answer counts. No: it is set aside and the question is asked again with its help.
    Whatever NLU made of the message ("no, that's wrong" may read as a correction), so the
    form and every interruption call this first. None when no read-back waits or the message
    is neither a yes nor a no.
    """
    if snap is None or snap.pending is None:
        return None
    reply = yes_no_reply(tracker.latest_message.get("text") or "")
    if reply == "yes":
        return answered_events(await in_thread(screenings.confirm_pending, tracker.sender_id))
    if reply == "no":
        await in_thread(screenings.discard_pending, tracker.sender_id)
        question = snap.asking
        help_text = question.help.get(language(tracker)) if question else ""
        say_key(dispatcher, tracker, "readback_retry", help=help_text)
        return [SlotSet("attempts", 0)]
    return None


async def answer_instead(tracker: Tracker, accept_unsure: bool = False) -> list[EventType] | None:
    """Take a message that NLU read as a question to the bot as the answer it also is.

    During the screening, a reply that clearly answers the current question is recorded as that
    answer, and the interruption is skipped. Returns the events to return, or None when the
    message is not such an answer.
    """
    if tracker.active_loop_name != "screening_form":
        return None
    snap = await in_thread(screenings.snapshot, tracker.sender_id)
    question = snap.evaluation.next_question if snap else None
    text = tracker.latest_message.get("text") or ""
    # While a read-back waits for "yes, that's right", a message is not taken as a new answer;
    # before consent, nothing is.
    if question is None or snap.pending is not None or not snap.consented:
        return None
    understood = await in_thread(interpret, question, text, language(tracker), snap.answers)
    if understood is None or not recognised(understood):
        return None
    if understood.answer.unsure and not accept_unsure:
        return None
    snap = await in_thread(
        screenings.take_answer, tracker.sender_id, question.id, typed_text(tracker), understood,
        was_typed(tracker),
    )
    return answered_events(snap)


class Interruption(Action, metaclass=abc.ABCMeta):
    """The base of the actions above. A subclass names itself and either says one message
    (``message_key``, from ``bot/locales``) or overrides :meth:`respond`.

    Abstract, so that the action server does not register it as an action of its own.
    """

    message_key: str = ""
    # False where the message can never be an answer (thanks) or decides that itself.
    may_be_an_answer: bool = True
    # False where the action's rule ends or leaves the form (stop, goodbye): a message taken as
    # the answer then resumes the form by a follow-up action.
    rule_resumes_form: bool = True

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in domain.yml."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        if tracker.active_loop_name == "screening_form":
            snap = await in_thread(screenings.snapshot, tracker.sender_id)
            if (replied := await reply_to_readback(dispatcher, tracker, snap)) is not None:
                return replied
        if self.may_be_an_answer and (answered := await answer_instead(tracker)) is not None:
            return answered if self.rule_resumes_form else [
                *answered, FollowupAction("screening_form")
            ]
        return await self.respond(dispatcher, tracker)

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        say_key(dispatcher, tracker, self.message_key)
        return []
