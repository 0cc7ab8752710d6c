"""Crisis help in the conversation: shown first, whatever else the message does."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import in_thread, language, protocol_for, say, typed_text
from bot import screenings
from bot.messages import msg
from bot.safety import mentions_crisis

# Where a rule answers the crisis intent with action_crisis_help (data/rules/interruptions.yml).
# In any other form (contact details, the opt-in) the form has priority over rules, so its
# validation is the only place the patient can be given help.
_CRISIS_RULE_LOOPS = (None, "screening_form")


def crisis_message(tracker: Tracker) -> bool:
    """A message that says the patient may harm themselves, and that no crisis rule answers.

    Either NLU did not read it as a crisis (the words say so all the same), or NLU did but the
    conversation is inside a form that no crisis rule covers.
    """
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if intent == "express_crisis":
        return tracker.active_loop_name not in _CRISIS_RULE_LOOPS
    return mentions_crisis(typed_text(tracker))


async def crisis_safety_net(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Show crisis help for a message that says so, whatever intent NLU gave it.

    Returns whether help was shown. The crisis intent's own action shows it already.
    """
    if not crisis_message(tracker):
        return False
    await show_crisis_help(dispatcher, tracker)
    return True


async def show_crisis_help(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Where to get help now, as the site words it. Shown before anything else."""
    lang = language(tracker)
    protocol = await protocol_for(tracker)
    say(
        dispatcher,
        tracker,
        f"{msg('crisis_intro', lang)} {protocol.site.crisis_text(lang)}",
    )
    await in_thread(screenings.mark_crisis_help_shown, tracker.sender_id)
