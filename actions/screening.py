"""The screening conversation: introduction and consent, the generic question loop, the outcome,
and the patient's controls (why, correct, stop, start over)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    INTENT_PAYLOADS,
    channel,
    in_thread,
    language,
    protocol_for,
    say,
    say_key,
    typed_text,
    was_typed,
    yes_no_options,
)
from actions.form_validation import ATTEMPTS_SLOT, PrescreenFormValidationAction
from actions.interruptions import (
    OUTCOME_SLOT,
    Interruption,
    answer_instead,
    outcome_value,
    reply_to_readback,
)
from actions.safety import crisis_message, crisis_safety_net, show_crisis_help
from bot import screenings
from bot.consent import INTRO, consent_reply
from bot.consent import wording as consent_wording
from bot.contact import is_stop_request
from bot.corrections import find_correction, is_correction_worded
from bot.engine import Answer, Status
from bot.messages import msg
from bot.protocol import Protocol
from bot.questions import Interpretation, interpret, readback, render


class ActionIntroduceStudy(Action):
    """Says what the study is, that this is a pre-screen, what is stored; asks for consent."""

    def name(self) -> str:
        return "action_introduce_study"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = language(tracker)
        protocol = await protocol_for(tracker)
        values = _trial_values(protocol, lang)
        if not protocol.is_recruiting:
            say_key(dispatcher, tracker, "not_recruiting", **values)
            return []
        snap = await in_thread(
            screenings.start, tracker.sender_id, protocol.id, channel(tracker), lang
        )
        if snap.answered and not snap.evaluation.finished:
            say_key(dispatcher, tracker, "intro_returning", count=snap.answered, **values)
            question = msg("consent_ask_continue", lang)
        else:
            for key in INTRO:  # short messages, so the question below stays in view
                say_key(dispatcher, tracker, key, **values)
            question = msg("consent_ask", lang)
        say(
            dispatcher,
            tracker,
            question,
            yes_no_options(tracker, "consent_yes", "consent_no"),
            payloads=INTENT_PAYLOADS,
        )
        return [SlotSet("trial_id", protocol.id), SlotSet(OUTCOME_SLOT, None)]


async def record_consent(tracker: Tracker) -> screenings.Snapshot:
    """The patient's explicit yes to health questions, with its time and wording."""
    protocol = await protocol_for(tracker)
    lang = language(tracker)
    words = consent_wording("screening", lang, **_trial_values(protocol, lang))
    return await in_thread(screenings.consent, tracker.sender_id, words.text, words.version)


class ActionStartScreening(Action):
    """Records consent to health questions, on an explicit yes only.

    NLU may read "actually wait" as an agreement; then no consent is recorded, and the screening
    form asks the consent question again before any health question.
    """

    def name(self) -> str:
        return "action_start_screening"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # The message as Rasa has it: on SMS a reply of "1" is already the Yes button's payload.
        text = str((tracker.latest_message or {}).get("text") or "")
        if consent_reply(text, language(tracker)) != "yes":
            return [SlotSet(OUTCOME_SLOT, None), SlotSet("attempts", 0)]
        snap = await record_consent(tracker)
        return [
            SlotSet(OUTCOME_SLOT, outcome_value(snap.evaluation.status)),
            SlotSet("attempts", 0),
        ]


class ActionConsentDeclined(Action):
    def name(self) -> str:
        return "action_consent_declined"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        await in_thread(screenings.decline, tracker.sender_id)
        say_key(dispatcher, tracker, "consent_declined")
        return []


ASK_ANSWER = "action_ask_answer"

# The screening as this call's validation left it, when it wrote an answer: the question asked
# next is read from it instead of from the store again. Per call (each request runs in a task
# of its own, with its own context), never kept on the action.
_WRITTEN: ContextVar[screenings.Snapshot | None] = ContextVar("written_snapshot", default=None)


class ValidateScreeningForm(PrescreenFormValidationAction):
    """The generic question loop: every reply goes to the engine's current question.

    ``required_slots`` asks for the one ``answer`` slot while the screening is open; once the
    engine has decided (no question left, or a knockout) it asks for nothing and the form ends.

    It also asks the next question (or reads back the answer awaiting a yes), where Rasa's form
    would have called ``action_ask_answer`` right after it: the domain names no action and no
    response that asks for ``answer``, so Rasa's ``FormAction`` asks nothing itself (issue 10:
    one action call per answer instead of two). With a domain that still names
    ``action_ask_answer`` (a model trained before), Rasa asks and this does not.
    """

    def name(self) -> str:
        return "validate_screening_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        _WRITTEN.set(None)
        events = await super().run(dispatcher, tracker, domain)
        if not rasa_asks_for_answer(domain) and form_asks_for_answer(events, tracker):
            await ask_for_answer(dispatcher, tracker, _WRITTEN.get())
        return events

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return [] if tracker.get_slot(OUTCOME_SLOT) else ["answer"]

    async def validate_answer(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        lang = language(tracker)
        help_shown = crisis_message(tracker)  # the base class has shown help for it
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
        if snap is None:  # no screening: the form cannot have been started properly
            return {"answer": None, OUTCOME_SLOT: None}
        if not snap.consented:
            return await self._consent(dispatcher, tracker, str(value))
        question = snap.asking
        if question is None:
            return {"answer": None, OUTCOME_SLOT: outcome_value(snap.evaluation.status)}
        text = str(value)
        if (replied := await reply_to_readback(dispatcher, tracker, snap)) is not None:
            return {"answer": None, **{e["name"]: e["value"] for e in replied}}
        # No read-back waits, or the reply is neither yes nor no: perhaps the patient typed the
        # answer again, differently. Read it afresh.
        # Parsing is CPU work: off the event loop, so other patients are not held up.
        understood = await in_thread(interpret, question, text, lang, snap.answers)
        if understood is None:
            if snap.pending is not None:
                return self.reject("answer", dispatcher, tracker, msg("invalid_yes_no", lang))
            if self.attempts(tracker) >= 1 and question.allow_unsure:
                # Asked again with help once already: keep the words for the site to confirm.
                unclear = Interpretation(
                    Answer.not_sure(question.id), msg("understood_unclear", lang)
                )
                snap = await in_thread(
                    screenings.record_answer, tracker.sender_id, question.id, typed_text(tracker),
                    unclear,
                )
                say_key(dispatcher, tracker, "kept_for_site")
                return self._answered(snap)
            help_text = msg("reask", lang, help=question.help.get(lang))
            return self.reject("answer", dispatcher, tracker, help_text)
        snap = await in_thread(
            screenings.take_answer, tracker.sender_id, question.id, typed_text(tracker),
            understood, was_typed(tracker),
        )
        if "crisis" in question.flags and understood.answer.value == "yes" and not help_shown:
            await show_crisis_help(dispatcher, tracker)
        return self._answered(snap)

    async def _consent(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str
    ) -> dict[str, Any]:
        """The reply to the consent question, asked again inside the form while it is missing:
        a clear yes opens the health questions, a no ends the form with nothing asked."""
        reply = consent_reply(text, language(tracker))
        if reply == "yes":
            await record_consent(tracker)
            return {"answer": None, ATTEMPTS_SLOT: 0}
        if reply == "no":
            await in_thread(screenings.decline, tracker.sender_id)
            say_key(dispatcher, tracker, "consent_declined")
            return {"answer": None, "requested_slot": None, ATTEMPTS_SLOT: 0}
        return self.reject("answer", dispatcher, tracker, msg("consent_unclear", language(tracker)))

    def _answered(self, snap: screenings.Snapshot) -> dict[str, Any]:
        """The slots after an answer: the form asks again (the next question, or the read-back)
        unless the engine has decided."""
        _WRITTEN.set(snap)
        result = self.accepted("answer", None)
        result[OUTCOME_SLOT] = outcome_value(snap.evaluation.status)
        return result


class ActionAskAnswer(Action):
    """Asks the engine's next question with its options and where the patient is, or reads back
    the typed answer that awaits the patient's confirmation."""

    def name(self) -> str:
        return ASK_ANSWER

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await ask_for_answer(dispatcher, tracker)
        return []


async def ask_for_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, snap: screenings.Snapshot | None = None
) -> None:
    """The engine's next question with its options and where the patient is, or the read-back
    of the typed answer that awaits the patient's confirmation (or the consent question).

    ``snap``: the screening as this call has just written it, else it is read."""
    lang = language(tracker)
    if snap is None:
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
    if snap is not None and not snap.consented:
        say(dispatcher, tracker, msg("consent_ask", lang),
            yes_no_options(tracker, "consent_yes", "consent_no"), payloads=INTENT_PAYLOADS)
        return
    question = snap.asking if snap is not None else None
    if question is None:
        return
    if snap.pending is not None:
        said = Interpretation(snap.pending.answer, snap.pending.understood)
        say(dispatcher, tracker, readback(question, said, lang),
            yes_no_options(tracker, "option_readback_right", "option_readback_wrong"))
        return
    evaluation = snap.evaluation
    progress = msg(
        "progress", lang, number=evaluation.answered + 1,
        total=evaluation.answered + evaluation.remaining,
    )
    rendered = render(question, lang)
    say(dispatcher, tracker, f"{progress}\n{rendered.text}", rendered.options)


def rasa_asks_for_answer(domain: DomainDict) -> bool:
    """Whether Rasa's form asks for ``answer`` itself: the domain names one of the actions or
    responses ``FormAction._name_of_utterance`` looks for."""
    names = {*(domain.get("actions") or ()), *(domain.get("responses") or {})}
    return bool(names & {"action_ask_screening_form_answer", "utter_ask_screening_form_answer",
                         ASK_ANSWER, "utter_ask_answer"})


def form_asks_for_answer(events: list[EventType], tracker: Tracker) -> bool:
    """Whether Rasa's ``FormAction``, given the validation's ``events``, goes on to ask for the
    ``answer`` slot (``FormAction.request_next_slot``, Rasa 3.6): not when the last
    ``requested_slot`` set is None or the loop is ended (``is_done``); else for the first
    ``requested_slot`` set, or, with none set, for ``answer`` (the form's one slot) when it
    holds no value."""
    requested = [e.get("value") for e in events
                 if e.get("event") == "slot" and e.get("name") == "requested_slot"]
    loops = [e for e in events if e.get("event") == "active_loop"]
    if (requested and requested[-1] is None) or (loops and not loops[-1].get("name")):
        return False
    if requested and requested[0]:
        return requested[0] == "answer"
    answers = [e.get("value") for e in events
               if e.get("event") == "slot" and e.get("name") == "answer"]
    return (answers[-1] if answers else tracker.get_slot("answer")) is None


class ActionScreeningOutcome(Action):
    """Tells the patient the outcome in plain words and offers the next step.

    The outcome slot the rules branch on was set by the form's validation, with the answer.
    """

    def name(self) -> str:
        return "action_screening_outcome"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = language(tracker)
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
        if snap is None or not snap.evaluation.finished:
            return []
        protocol = await protocol_for(tracker)
        evaluation = snap.evaluation
        if evaluation.status is Status.NOT_ELIGIBLE:
            reason = " ".join(c.reason.get(lang) for c in evaluation.reasons)
            say_key(dispatcher, tracker, "knockout", reason=reason)
            say(
                dispatcher,
                tracker,
                msg("other_trials_ask", lang),
                yes_no_options(tracker),
                payloads=INTENT_PAYLOADS,
            )
            return []
        if evaluation.status is Status.MAY_QUALIFY_CONFIRM:
            items = "\n".join(
                msg("confirm_item", lang, plain=c.plain.get(lang)) for c in evaluation.to_confirm
            )
            say(dispatcher, tracker, f"{msg('may_qualify_confirm', lang)}\n{items}")
        else:
            say_key(dispatcher, tracker, "may_qualify")
        if snap.is_minor:
            say_key(dispatcher, tracker, "minor_note")
        say(
            dispatcher,
            tracker,
            msg("contact_ask", lang, site_name=protocol.site_name(lang)),
            yes_no_options(tracker),
            payloads=INTENT_PAYLOADS,
        )
        return []


class ActionExplainQuestion(Interruption):
    """"Why do you ask?": the current question's reason, from the protocol."""

    def name(self) -> str:
        return "action_explain_question"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        lang = language(tracker)
        snap = await in_thread(screenings.snapshot, tracker.sender_id)
        question = snap.evaluation.next_question if snap else None
        if tracker.active_loop_name == "screening_form" and question is not None:
            say_key(dispatcher, tracker, "why", why=question.why.get(lang))
        else:
            say_key(dispatcher, tracker, "why_general")
        return []


class ActionCorrectAnswer(Interruption):
    """"Actually I'm 46": changes an earlier answer, or re-opens the question it names."""

    may_be_an_answer = False  # only when it is not worded as a correction: decided below

    def name(self) -> str:
        return "action_correct_answer"

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        lang = language(tracker)
        text = tracker.latest_message.get("text") or ""
        # Without a word of correction ("actually", "I meant"...), a plain answer to the current
        # question is that answer, even if NLU took it for a correction: "yes, a kidney flare
        # that is still not under control" answers the flare question (as "not sure" at worst),
        # it does not correct the earlier question whose keyword "flare" it shares.
        if not is_correction_worded(text) and (
            answered := await answer_instead(tracker, accept_unsure=True)
        ):
            return answered
        protocol = await protocol_for(tracker)
        answered = await in_thread(screenings.answered_questions, tracker.sender_id)
        if not answered:
            say_key(dispatcher, tracker, "correction_none")
            return []
        correction = await in_thread(find_correction, protocol, answered, text, lang)
        if correction is None:
            say_key(dispatcher, tracker, "correction_unclear")
            return []
        if correction.interpretation is None:
            snap = await in_thread(screenings.reopen, tracker.sender_id, correction.question.id)
            say_key(dispatcher, tracker, "correction_reopen")
        else:
            # A correction that would end the screening is read back first, like any answer.
            snap = await in_thread(
                screenings.take_answer,
                tracker.sender_id,
                correction.question.id,
                text,
                correction.interpretation,
                was_typed(tracker),
            )
            if snap.pending is None:
                understood = correction.interpretation.understood
                say_key(dispatcher, tracker, "correction_done", understood=understood)
        outcome = outcome_value(snap.evaluation.status)
        return [SlotSet(OUTCOME_SLOT, outcome), SlotSet("attempts", 0)]


class ActionStopScreening(Interruption):
    """The patient stops: say what is kept, keep the partial screening.

    NLU reads "I don't take it any more" (a dose of nothing) as a stop. Unless the message is
    an explicit stop phrase, a reply that answers the question asked is taken as that answer,
    and the screening goes on.
    """

    rule_resumes_form = False

    def name(self) -> str:
        return "action_stop_screening"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        # An explicit stop, or words of crisis read as one ("I don't want to be here any
        # more"): help first, then stop, never a guess at an answer.
        if is_stop_request(typed_text(tracker)) or crisis_message(tracker):
            await crisis_safety_net(dispatcher, tracker)
            return await self.respond(dispatcher, tracker)
        return await super().run(dispatcher, tracker, domain)

    async def respond(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        await in_thread(screenings.stop, tracker.sender_id)
        say_key(dispatcher, tracker, "stop")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("answer", None)]


class ActionConfirmRestart(Action):
    """"Start over" first asks, since it sets the answers aside.

    The form stops while the question waits, so that "yes" is not taken as the answer to the
    screening question; "no" (``action_carry_on``) takes the exchange back and carries on.
    """

    def name(self) -> str:
        return "action_confirm_restart"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await crisis_safety_net(dispatcher, tracker)
        say(dispatcher, tracker, msg("restart_confirm", language(tracker)),
            yes_no_options(tracker), payloads=INTENT_PAYLOADS)
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionRestartScreening(Action):
    """Start over, once confirmed: the current screening is closed and the next one starts from
    scratch."""

    def name(self) -> str:
        return "action_restart_screening"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await in_thread(screenings.restart, tracker.sender_id)
        say_key(dispatcher, tracker, "restart")
        keep = [SlotSet(name, tracker.get_slot(name)) for name in ("trial_id", "language")]
        return [ActiveLoop(None), AllSlotsReset(), *keep]


def _trial_values(protocol: Protocol, lang: str = "en") -> dict[str, str]:
    return {
        "short_title": protocol.short_title.get(lang),
        "site_name": protocol.site_name(lang),
        "summary": protocol.summary.get(lang),
        "trial_code": protocol.code,
        "trial_id": protocol.id,
    }
