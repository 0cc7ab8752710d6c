"""Normalising patients' replies, and the helpers every parser shares."""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans(
    {
        **{c: "'" for c in "\u2018\u2019\u201a\u201b`\u00b4\u02b9\u02bb\u02bc\u02bd\u2032"},
        **{c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"},
    }
)
# Vulgar fractions: NFKC would turn "2½" into "21⁄2", so they are spelled out first.
_VULGAR_FRACTION = re.compile("[\u00bc-\u00be\u2150-\u215e]")
# Kept at the end of a text: they change the meaning of a number ("75+", "<2").
_KEEP_AT_END = frozenset("+<>=~")


def _spell_fraction(match: re.Match[str]) -> str:
    return " " + unicodedata.normalize("NFKC", match.group()).replace("\u2044", "/") + " "


def _is_trailing_noise(ch: str) -> bool:
    if ch in _KEEP_AT_END:
        return False
    category = unicodedata.category(ch)
    # Punctuation, emoji and other symbols, their modifiers and joiners, unassigned code points.
    return category[0] in "PZMC" or category in ("So", "Sk", "Sm", "Sc")


def normalise(text: str) -> str:
    """Lower-case, unify quotes, collapse whitespace, drop trailing punctuation and emoji.

    Internal punctuation is kept ("7.5", "don't", "#2"); the end of the text is trimmed, and
    opening quotes, brackets and emoji at its start.
    """
    text = _VULGAR_FRACTION.sub(_spell_fraction, text)
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = "".join(
        ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    text = " ".join(text.lower().split())
    end = len(text)
    while end and _is_trailing_noise(text[end - 1]):
        end -= 1
    start = 0
    while start < end and (text[start] in "\"'([{*_" or unicodedata.category(text[start]) == "So"):
        start += 1
    return text[start:end].strip()


def _phrases(*patterns: str) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` as whole words; an apostrophe joins a word."""
    body = "|".join(patterns)
    return re.compile(rf"(?<!\w)(?<!\w')(?:{body})(?!\w)(?!'\w)")
