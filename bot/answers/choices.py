"""Replies to multiple-choice questions, and the payloads buttons send."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.answers.medicines import _FUZZY_MIN_LENGTH, _NAME_TOKEN
from bot.answers.numbers import _UNIT_WORDS
from bot.answers.text import normalise


@dataclass(frozen=True)
class Choice:
    id: str
    labels: tuple[str, ...]  # the first is the button label, the rest synonyms


_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
    "ninth": 9, "9th": 9, "tenth": 10, "10th": 10, "last": -1,
}  # fmt: skip
_OPTION_NUMBER = re.compile(
    r"(?:the )?(?:(?:option|choice|number|answer|num|nr|no\.|#) ?)?#? ?"
    r"(?P<n>\d{1,2}(?:st|nd|rd|th)?|[a-z]+)"
    r"(?: one| option| choice)?"
)
_CHOICE_NEGATIONS = frozenset(
    {"not", "no", "never", "isnt", "arent", "dont", "neither", "nor", "t"}  # "t": don't, isn't
)
_CHOICE_FUZZY_RATIO = 0.85
_CHOICE_FUZZY_RIVAL = 0.75


def _loose(text: str) -> str:
    return " ".join(_NAME_TOKEN.findall(normalise(text)))


def _option_number(text: str, count: int) -> int | None:
    m = _OPTION_NUMBER.fullmatch(text)
    if m is None:
        return None
    raw = m.group("n")
    if raw.isdigit():
        number = int(raw)
    elif raw in _ORDINALS:
        number = _ORDINALS[raw] if _ORDINALS[raw] > 0 else count
    elif raw in _UNIT_WORDS and m.group() != raw:
        number = _UNIT_WORDS[raw]  # "option two", not a bare "one"
    else:
        return None
    return number if 1 <= number <= count else None


def parse_choice(text: str, choices: Sequence[Choice]) -> str | None:
    """The id of the choice the patient picked; None if none or more than one fits.

    Accepts a label or synonym ("female", "woman"), a reply that contains exactly one choice's
    label ("I'm a woman"), or the option's number ("2", "option 2", "#2", "the second one").
    """
    t = normalise(text)
    if not t or not choices:
        return None
    loose = _loose(t)
    for choice in choices:
        if any(normalise(label) == t or _loose(label) == loose for label in choice.labels):
            return choice.id
    number = _option_number(t, len(choices))
    if number is not None:
        return choices[number - 1].id
    contained = _contained_choices(t, choices)
    if len(contained) == 1:
        return contained.pop()
    if not contained:
        return _close_choice(loose, choices)
    return None


def _contained_choices(t: str, choices: Sequence[Choice]) -> set[str]:
    """Ids of choices with a label inside the text, a longer label winning over its own part."""
    words = " ".join(re.findall(r"[^\W_]+|[,.;!?]", t))
    hits: list[tuple[str, int, int]] = []
    negated: set[str] = set()
    for choice in choices:
        for label in choice.labels:
            key = _loose(label)
            if len(key) < 2:
                continue  # "f", "m": only as the whole reply
            for m in re.finditer(rf"(?<!\w){re.escape(key)}(?!\w)", words):
                before = re.split(r"[,.;!?]", words[: m.start()])[-1].split()[-2:]
                if any(w in _CHOICE_NEGATIONS for w in before):
                    negated.add(choice.id)
                else:
                    hits.append((choice.id, m.start(), m.end()))
    kept = {
        cid
        for cid, a, b in hits
        if not any(
            other != cid and oa <= a and b <= ob and (ob - oa) > (b - a)
            for other, oa, ob in hits
        )
    }
    return kept if not (kept & negated) else set()


def _close_choice(loose: str, choices: Sequence[Choice]) -> str | None:
    """A reply that is one typo away from exactly one label ("femal", "prefer not to sya")."""
    best: dict[str, float] = {}
    for choice in choices:
        for label in choice.labels:
            key = _loose(label)
            if len(key) < _FUZZY_MIN_LENGTH:
                continue
            score = difflib.SequenceMatcher(None, loose, key, autojunk=False).ratio()
            best[choice.id] = max(best.get(choice.id, 0.0), score)
    ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] < _CHOICE_FUZZY_RATIO:
        return None
    if len(ranked) > 1 and ranked[1][1] >= _CHOICE_FUZZY_RIVAL:
        return None
    return ranked[0][0]


_PAYLOAD = re.compile(r"\s*/(?P<intent>[^\s{@/]+)(?:@[0-9.]+)?(?P<json>\{.*\})?\s*", re.DOTALL)


def parse_button_payload(text: str) -> str | None:
    """The "answer" a button sent: '/answer{"answer": "yes"}' -> "yes"; None for typed text."""
    m = _PAYLOAD.fullmatch(text)
    if m is None or m.group("json") is None:
        return None
    try:
        data = json.loads(m.group("json"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("answer")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
