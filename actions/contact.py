"""The contact form of the listing, in the chat, and the notification opt-in.

Each field is checked as it arrives, read back for confirmation, and only sent to the study team
with the patient's consent. The lead and its email copy are written in one transaction before the
bot confirms anything. After the confirmation the bot offers, as the listing does, to notify the
patient about other trials, reusing the email address they just gave.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
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
    yes_no_reply,
)
from actions.form_validation import PrescreenFormValidationAction
from actions.session import set_in_this_session
from bot import consent, contact, leads
from bot.answers import normalise, parse_button_payload, parse_yes_no
from bot.messages import msg
from bot.questions import Option

log = logging.getLogger(__name__)

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "other_language")
CONTACT_SLOTS = (*CONTACT_FIELDS, "details_confirmed", "contact_consent")
OPTIN_SLOTS = ("optin_email", "optin_consent")
# Set once the lead is in the queue: the rules offer the notification about other trials.
LEAD_SUBMITTED_SLOT = "lead_submitted"
# "yes, Spanish": the yes before the language's name.
_LEADING_YES = re.compile(r"^\s*(?:yes|yeah|yep|sure|ok|okay)\b[\s,.!:-]*", re.IGNORECASE)
_NOT_A_LANGUAGE = {"ok", "okay", "please", "yes please", "thanks", "thank you", "hi", "hello"}


class ValidateContactForm(PrescreenFormValidationAction):
    def name(self) -> str:
        return "validate_contact_form"

    def _field(
        self, slot: str, clean: Any, error_key: str, value: Any,
        dispatcher: CollectingDispatcher, tracker: Tracker,
    ) -> dict[str, Any]:
        if (stopped := self.stop_requested(slot, tracker)) is not None:
            return stopped
        cleaned = clean(str(value or ""))
        if cleaned is None:
            return self.reject(slot, dispatcher, tracker, msg(error_key, language(tracker)))
        return self.accepted(slot, cleaned)

    async def validate_first_name(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return self._field("first_name", contact.clean_name, "invalid_name", value, dispatcher,
                           tracker)

    async def validate_last_name(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return self._field("last_name", contact.clean_name, "invalid_name", value, dispatcher,
                           tracker)

    async def validate_email(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return self._field("email", contact.clean_email, "invalid_email", value, dispatcher,
                           tracker)

    async def validate_phone(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return self._field("phone", contact.clean_phone, "invalid_phone", value, dispatcher,
                           tracker)

    async def validate_other_language(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        raw = parse_button_payload(str(value)) or str(value)
        if normalise(raw) == normalise(msg("option_no_other_language", language(tracker))):
            raw = "no"  # the button's words, typed ("不用，普通话就可以")
        # Its own message: the form asks the question again right after it.
        return self._field("other_language", other_language, "invalid_other_language",
                           raw, dispatcher, tracker)

    async def validate_details_confirmed(
        self, value, dispatcher, tracker, domain
    ) -> dict[str, Any]:
        if (stopped := self.stop_requested("details_confirmed", tracker)) is not None:
            return stopped
        answer = yes_no_reply(value)
        if answer == "yes":
            return self.accepted("details_confirmed", "yes")
        if answer == "no":
            say_key(dispatcher, tracker, "details_restart")
            return {slot: None for slot in (*CONTACT_FIELDS, "details_confirmed")}
        return self.reject("details_confirmed", dispatcher, tracker,
                           msg("invalid_yes_no", language(tracker)))

    async def validate_contact_consent(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if (stopped := self.stop_requested("contact_consent", tracker)) is not None:
            return stopped
        answer = yes_no_reply(value)
        if answer is None:
            return self.reject("contact_consent", dispatcher, tracker,
                               msg("invalid_yes_no", language(tracker)))
        return self.accepted("contact_consent", answer)


def other_language(text: str) -> str | None:
    """The language named, '' for none, None when no language is named ("yes", "maybe")."""
    cleaned = contact.clean_other_language(text)
    if cleaned == "":
        return cleaned
    if (cleaned is None or parse_yes_no(cleaned) is not None) and (
        rest := _LEADING_YES.sub("", text, count=1)
    ) not in ("", text):
        cleaned = contact.clean_other_language(rest)  # "yes, Spanish"
    if not cleaned or parse_yes_no(cleaned) is not None or cleaned.lower() in _NOT_A_LANGUAGE:
        return None  # a yes, a "not sure" or an "ok" is not the name of a language
    return cleaned


def _ask(slot: str, key: str, options: tuple[tuple[str, str], ...] = ()) -> type[Action]:
    """An ``action_ask_<slot>`` that says the catalogue's ``key``, with options if any."""

    class AskAction(Action):
        def name(self) -> str:
            return f"action_ask_{slot}"

        async def run(
            self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
        ) -> list[EventType]:
            lang = language(tracker)
            say(dispatcher, tracker, msg(key, lang),
                [Option(value, msg(label, lang)) for value, label in options])
            return []

    AskAction.__name__ = AskAction.__qualname__ = f"ActionAsk_{slot}"
    return AskAction


ActionAskFirstName = _ask("first_name", "ask_first_name")
ActionAskLastName = _ask("last_name", "ask_last_name")
ActionAskEmail = _ask("email", "ask_email")
ActionAskPhone = _ask("phone", "ask_phone")
ActionAskOtherLanguage = _ask(
    "other_language", "ask_other_language", (("no", "option_no_other_language"),)
)
ActionAskOptinEmail = _ask("optin_email", "ask_optin_email")
ActionAskOptinConsent = _ask(
    "optin_consent", "ask_optin_consent", (("yes", "option_agree"), ("no", "option_disagree"))
)


class ActionAskDetailsConfirmed(Action):
    """Reads the details back before anything is sent."""

    def name(self) -> str:
        return "action_ask_details_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = language(tracker)
        phone = tracker.get_slot("phone") or ""
        text = msg(
            "ask_details_confirmed",
            lang,
            first_name=tracker.get_slot("first_name"),
            last_name=tracker.get_slot("last_name"),
            email=tracker.get_slot("email"),
            phone=contact.display_phone(phone) if phone else "",
            language=tracker.get_slot("other_language") or msg("language_default", lang),
        )
        say(dispatcher, tracker, text,
            yes_no_options(tracker, "option_details_right", "option_details_change"))
        return []


class ActionAskContactConsent(Action):
    def name(self) -> str:
        return "action_ask_contact_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        protocol = await protocol_for(tracker)
        lang = language(tracker)
        words = msg("ask_contact_consent", lang, site_name=protocol.site_name(lang))
        say(dispatcher, tracker, words, yes_no_options(tracker, "option_agree", "option_disagree"))
        return []


class ActionSubmitLead(Action):
    """Queues a consenting patient with an email copy in the outbox, confirms in the listing's
    words. Nothing is sent in the patient's turn: the outbox worker delivers the copy."""

    def name(self) -> str:
        return "action_submit_lead"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = language(tracker)
        clear = [SlotSet(slot, None) for slot in CONTACT_SLOTS]
        if tracker.get_slot("contact_consent") != "yes":
            say_key(dispatcher, tracker, "contact_consent_refused")
            return clear
        if not set_in_this_session(tracker, "contact_consent", "yes"):
            # Details and consent from an earlier session are never sent without asking again.
            say_key(dispatcher, tracker, "contact_details_again")
            return [*clear, FollowupAction("contact_form")]
        protocol = await protocol_for(tracker)
        details = leads.ContactDetails(
            first_name=tracker.get_slot("first_name"),
            last_name=tracker.get_slot("last_name"),
            email=tracker.get_slot("email"),
            phone=tracker.get_slot("phone"),
            other_language=tracker.get_slot("other_language") or None,
        )
        words = consent.wording(
            "contact",
            lang,
            trial_code=protocol.code,
            trial_id=protocol.id,
            site_name=protocol.site_name(lang),
        )
        try:
            stored = await in_thread(leads.submit_lead, tracker.sender_id, details, words.text,
                                     lang, words.version)
        except leads.NotEligibleForLead:
            say_key(dispatcher, tracker, "lead_not_possible")
            return clear
        if stored is leads.Stored.SPOOL:
            # Kept on disk, encrypted; the outbox worker stores it when the database is back.
            # The opt-in needs the database too, so it is not offered now.
            say_key(dispatcher, tracker, "lead_spooled", site_name=protocol.site_name(lang))
            return clear
        # The lead and its email copy are committed; the outbox worker sends the copy.
        say_key(dispatcher, tracker, "lead_confirmation", site_name=protocol.site_name(lang))
        say_key(dispatcher, tracker, "lead_next_steps")
        # What the listing offers next.
        say(dispatcher, tracker, msg("notify_ask", lang), yes_no_options(tracker),
            payloads=INTENT_PAYLOADS)
        return [SlotSet(LEAD_SUBMITTED_SLOT, True)]


class ActionContactDeclined(Action):
    def name(self) -> str:
        return "action_contact_declined"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say_key(dispatcher, tracker, "contact_declined")
        clear = [SlotSet(slot, None) for slot in CONTACT_SLOTS]
        return [ActiveLoop(None), SlotSet("requested_slot", None), *clear]


class ActionUseLeadEmail(Action):
    """"Yes" to news of other trials after a lead: the opt-in reuses the lead's email address.

    With ``optin_email`` filled before the opt-in form starts, the form asks only for the
    opt-in consent; the patient is told which address is kept.
    """

    def name(self) -> str:
        return "action_use_lead_email"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        email = contact.clean_email(str(tracker.get_slot("email") or ""))
        if email is None:  # the form asks for an address
            return []
        say_key(dispatcher, tracker, "optin_lead_email", email=email)
        return [SlotSet("optin_email", email)]


class ValidateOptinForm(PrescreenFormValidationAction):
    def name(self) -> str:
        return "validate_optin_form"

    async def validate_optin_email(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if (stopped := self.stop_requested("optin_email", tracker)) is not None:
            return stopped
        cleaned = contact.clean_email(str(value or ""))
        if cleaned is None:
            return self.reject("optin_email", dispatcher, tracker,
                               msg("invalid_email", language(tracker)))
        return self.accepted("optin_email", cleaned)

    async def validate_optin_consent(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if (stopped := self.stop_requested("optin_consent", tracker)) is not None:
            return stopped
        answer = yes_no_reply(value)
        if answer is None:
            return self.reject("optin_consent", dispatcher, tracker,
                               msg("invalid_yes_no", language(tracker)))
        return self.accepted("optin_consent", answer)


class ActionSaveOptin(Action):
    def name(self) -> str:
        return "action_save_optin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        clear = [SlotSet(slot, None) for slot in OPTIN_SLOTS]
        if tracker.get_slot("optin_consent") != "yes":
            say_key(dispatcher, tracker, "optin_declined")
            return clear
        if not set_in_this_session(tracker, "optin_consent", "yes"):
            return [*clear, FollowupAction("optin_form")]
        protocol = await protocol_for(tracker)
        await in_thread(
            leads.save_optin,
            tracker.sender_id,
            protocol.id,
            tracker.get_slot("optin_email"),
            *_optin_words(language(tracker)),
        )
        say_key(dispatcher, tracker, "optin_saved")
        return clear


def _optin_words(lang: str) -> tuple[str, str]:
    words = consent.wording("optin", lang)
    return words.text, words.version


class ActionOptinDeclined(Action):
    def name(self) -> str:
        return "action_optin_declined"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say_key(dispatcher, tracker, "optin_declined")
        return [ActiveLoop(None), SlotSet("requested_slot", None),
                *[SlotSet(slot, None) for slot in OPTIN_SLOTS]]
