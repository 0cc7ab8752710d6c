"""Whether a message can change the conversation's language: read by the action and by Rasa.

``action_detect_language`` (actions/language.py) is the ``language`` slot's custom mapping, so
Rasa would call the action server for it after every user message; on almost every message it
then finds nothing to do (the language is set, the page passed none, the message is no request)
and returns no event. The Rasa server asks :func:`may_change` first, with the same message
dict the action would receive, and skips the call when the answer is no
(``channels/action_calls.py``): one action-server call less per answer, and the action still
decides every case where something can happen. Plain dicts and ``bot.language`` only, so the
Rasa process can import it without rasa_sdk's tracker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import language as lang_of

SLOT = "language"
# Fields whose answer may be a language's name, or a name that is also one ("English").
NOT_A_REQUEST = frozenset({"other_language", "first_name", "last_name"})


def typed(message: Mapping[str, Any]) -> str:
    """The message as typed (a connector that turned "2" into a payload keeps it in metadata)."""
    return str((message.get("metadata") or {}).get("typed") or message.get("text") or "")


def passed(message: Mapping[str, Any]) -> str | None:
    """The language the study page (or a channel) passed: metadata, or the greeting's entity."""
    chosen = lang_of.chosen((message.get("metadata") or {}).get(SLOT))
    if chosen:
        return chosen
    for entity in message.get("entities") or []:
        if entity.get("entity") == SLOT:
            return lang_of.chosen(entity.get("value"))
    return None


def request(
    message: Mapping[str, Any], active_loop: str | None, requested_slot: str | None
) -> str | None:
    """The language the message asks for ("说中文"), where a message can be such a request."""
    if active_loop and requested_slot in NOT_A_REQUEST:
        return None
    return lang_of.requested(typed(message))


def may_change(
    message: Mapping[str, Any],
    current: str | None,
    active_loop: str | None,
    requested_slot: str | None,
) -> bool:
    """False when ``action_detect_language`` would return no event and say nothing: the
    language is set, the message passes none and asks for none."""
    if current is None:
        return True
    return passed(message) is not None or request(message, active_loop, requested_slot) is not None
