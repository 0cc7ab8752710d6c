"""A safety net for crisis messages that does not depend on the NLU model.

A patient who writes that they may harm themselves must see where to get help now, even if the
intent classifier reads the message as something else ("I don't want to be here anymore" can
look like "stop"). These patterns are checked on every message the screening actions handle.
"""

from __future__ import annotations

import re

from bot.answers import normalise

_CRISIS = re.compile(
    r"\b(?:"
    r"kill(?:ing)? my ?self|end(?:ing)? (?:my|it) (?:life|all)|take my (?:own )?life|"
    r"suicid(?:e|al)|"
    r"(?:hurt|harm|cut)(?:ing)? my ?self|self[- ]harm|"
    r"(?:don'?t|do not|no longer) want to (?:live|be alive|be here)|"
    r"better off dead|wish (?:i (?:was|were)|to be) dead|want to die|"
    r"no reason to live|can'?t go on"
    r")\b"
)

# The questions that ask about exactly this: a plain answer to them is not a crisis message.
CRISIS_FLAG = "crisis"


def mentions_crisis(text: str) -> bool:
    """Whether a message says the patient may harm themselves (English patterns)."""
    return bool(_CRISIS.search(normalise(text)))
