"""A safety net for crisis messages that does not depend on the NLU model.

A patient who writes that they may harm themselves must see where to get help now, even if the
intent classifier reads the message as something else ("I don't want to be here anymore" can
look like "stop", "不想活了" like "不想做了"). These patterns are checked on every message the
screening actions handle. The phrases are data, per language, in ``bot/crisis_phrases.yml``;
every message is checked against every language, so a Chinese message in an English
conversation (or the reverse) is caught too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from bot.answers import normalise

PHRASES_FILE = Path(__file__).resolve().parent / "crisis_phrases.yml"

# The questions that ask about exactly this: a plain answer to them is not a crisis message.
CRISIS_FLAG = "crisis"

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], bool], ...]:
    """One compiled pattern per language, with whether it matches whole words (read once)."""
    data = yaml.safe_load(PHRASES_FILE.read_text(encoding="utf-8"))
    compiled = []
    for language, entry in data.items():
        phrases = entry.get("phrases") or []
        if not phrases:
            raise ValueError(f"{PHRASES_FILE.name}: no phrases for {language!r}")
        body = "|".join(f"(?:{phrase})" for phrase in phrases)
        words = bool(entry.get("words", True))
        compiled.append((re.compile(rf"\b(?:{body})\b" if words else body), words))
    return tuple(compiled)


def mentions_crisis(text: str) -> bool:
    """Whether a message says the patient may harm themselves, in any language we know."""
    text = normalise(text)
    unspaced = _SPACES.sub("", text)
    return any(
        pattern.search(text if words else unspaced) for pattern, words in _patterns()
    )
