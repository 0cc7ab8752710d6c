"""Whether a reply to "Is it OK for me to ask you some questions about your health?" is a yes.

Consent is a gate: only an explicit yes opens the health questions. "Sorry, I made a mistake" or
"actually wait" is not a yes, whatever NLU made of it, so the question is asked again.
"""

from __future__ import annotations

from typing import Literal

from bot.answers import normalise, parse_button_payload, parse_yes_no

# Plain agreement, as patients type it at this one question, by language.
_AGREEMENT = {
    "en": frozenset(
        {"ok", "okay", "ok go", "okay go", "go ahead", "fine", "alright", "all right",
         "let's start", "lets start", "let's go", "lets go", "start", "go on", "ask away",
         "ok ask", "ok ask me", "you can", "yes you can", "i agree", "agreed"}
    ),
}  # fmt: skip
_PAYLOADS = {"/affirm": "yes", "/deny": "no"}


def consent_reply(text: str, language: str = "en") -> Literal["yes", "no"] | None:
    """ "yes" only for a clear agreement (a tap on the button, "yes", "ok, go ahead"), "no" for
    a refusal, None for anything else: then the bot asks again."""
    raw = (text or "").strip()
    if raw in _PAYLOADS:
        return _PAYLOADS[raw]  # type: ignore[return-value]
    raw = parse_button_payload(raw) or raw
    t = normalise(raw).rstrip("!.")
    if t in _AGREEMENT.get(language, _AGREEMENT["en"]):
        return "yes"
    answer = parse_yes_no(raw)
    return answer if answer in ("yes", "no") else None
