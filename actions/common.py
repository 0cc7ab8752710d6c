"""What every action needs: the conversation's trial, language and channel, a worker thread for
database calls, and a way to send a message that suits the channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.answers import parse_button_payload, parse_yes_no
from bot.channels import profile, split_message
from bot.messages import msg
from bot.protocol import Protocol, get_protocol
from bot.questions import Option, Rendered

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (database, SMTP, file reads) off the action server's event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


def language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "en"


def typed_text(tracker: Tracker) -> str:
    """The latest message as the patient typed it: a connector that turned "2" into the second
    button's payload keeps the "2" in the message's metadata."""
    message = tracker.latest_message or {}
    return str((message.get("metadata") or {}).get("typed") or message.get("text") or "")


def yes_no_reply(text: Any) -> str | None:
    """'yes' or 'no' from a button, a numbered reply (1 = yes, 2 = no) or free text."""
    raw = str(text or "")
    value = parse_button_payload(raw) or raw
    value = {"1": "yes", "2": "no"}.get(value.strip(), value)
    answer = parse_yes_no(value)
    return answer if answer in ("yes", "no") else None


def was_typed(tracker: Tracker) -> bool:
    """Whether the latest message was typed, not a button tapped (or a numbered reply to one)."""
    message = tracker.latest_message or {}
    if (message.get("metadata") or {}).get("typed"):
        return False  # a connector turned "2" into the second button's payload
    return parse_button_payload(str(message.get("text") or "")) is None


def channel(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "unknown"


async def protocol_for(tracker: Tracker) -> Protocol:
    """The conversation's trial: the one the study page named, or the deployment's default."""
    return await in_thread(get_protocol, tracker.get_slot("trial_id"))


def say(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    text: str,
    options: tuple[Option, ...] | list[Option] = (),
    payloads: list[str] | None = None,
) -> None:
    """Send ``text`` with its options as buttons; split what is longer than the channel allows.

    Where the channel shows no buttons (SMS), the options are written into the text as numbered
    choices. The buttons still go with the message, so the transcript keeps them and the
    connector can turn a reply of "1" into the first button's payload.
    """
    lang = language(tracker)
    rendered = Rendered(text, tuple(options))
    chan = profile(channel(tracker))
    if options and not chan.buttons:
        text = rendered.as_plain_text(lang)
    parts = split_message(text, chan.max_length)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last and options:
            buttons = rendered.buttons()
            if payloads is not None:
                buttons = [
                    {"title": b["title"], "payload": p}
                    for b, p in zip(buttons, payloads, strict=True)
                ]
            dispatcher.utter_message(text=part, buttons=buttons)
        else:
            dispatcher.utter_message(text=part)


def say_key(
    dispatcher: CollectingDispatcher, tracker: Tracker, key: str, **values: Any
) -> None:
    say(dispatcher, tracker, msg(key, language(tracker), **values))


def yes_no_options(tracker: Tracker, yes_key: str = "option_yes", no_key: str = "option_no"):
    lang = language(tracker)
    return (Option("yes", msg(yes_key, lang)), Option("no", msg(no_key, lang)))


INTENT_PAYLOADS = ["/affirm", "/deny"]
