"""Crisis help in the conversation: shown first, whatever else the message does."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import in_thread, language, protocol_for, say, typed_text
from bot import screenings
from bot.messages import msg
from bot.safety import mentions_crisis


def crisis_message(tracker: Tracker) -> bool:
    """A message that says the patient may harm themselves, which NLU did not read as such."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return intent != "express_crisis" and mentions_crisis(typed_text(tracker))


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
