"""Answers that describe instead of saying yes or no: "parkinsons", "heart attack in march".

A yes/no question names what it asks about (``describes`` in the protocol, per language). A reply
with no yes or no in it that names one of those things, not denied, is read as a yes; where it
also says when ("in 2015", "8 years ago"), the time may fall outside the question's window, so it
is read as not sure and left for the site. Pure functions of the text; nothing is logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from bot.answers.text import normalise

# Words just before a phrase that deny it: "never had a stroke", "no epilepsy".
_DENIALS = frozenset(
    {"not", "no", "never", "without", "nothing", "neither", "nor", "wasn't", "wasnt", "isn't",
     "isnt", "don't", "dont", "didn't", "didnt", "haven't", "havent", "hasn't", "hasnt",
     "unrelated", "benign"}
)  # fmt: skip
# When something happened: the question's time window may not include it.
_WHEN = re.compile(
    r"(?<!\w)(?:ago|years?|yrs?|months?|weeks?|days?|last|since|when i was|as a (?:child|kid|teen"
    r"|teenager)|(?:19|20)\d\d|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)(?!\w)"
    r"|年|月|周|星期|天前|以前|之前|小时候"
)


# "3 times a week", "once a day": how often, not when.
_HOW_OFTEN = re.compile(
    r"(?<!\w)(?:a|per|every|each|one|twice a|times a) (?:day|week|month|year)(?!\w)"
)
# Something said of someone else: "my dad had a stroke", "my mum has breast cancer".
_SOMEONE_ELSE = re.compile(
    r"(?<!\w)(?:my|his|her|our) (?:mum|mom|mother|dad|father|sister|brother|aunt|auntie|uncle|"
    r"gran|granny|grandma|grandmother|nan|nana|grandad|grandpa|grandfather|cousin|son|daughter|"
    r"husband|wife|partner|friend|family|niece|nephew|boyfriend|girlfriend)(?:'s)? "
    r"(?:had|has|have|got|was|is|died|passed)(?!\w)"
)
# Words that qualify what is named, so the site must judge it: "AF but it's controlled",
# "psoriasis, just creams", "fluid round my heart but it's gone now".
_QUALIFIED = re.compile(
    r"(?<!\w)(?:but|though|although|however|except|controlled|under control|gone now|"
    r"cleared|cured|resolved|settled|in remission|fine now|vaccinated against)(?!\w)"
)
_ONLY = re.compile(r"(?<!\w)(?:only|just)(?!\w)")

_CJK = re.compile(r"[\u3400-\u9fff]")
_CLAUSE = re.compile(r"[,;.!?:，。；！？]")
_CJK_DENIALS = ("不是", "没有", "没", "并非", "无")


def _at(phrase: str, text: str) -> int | None:
    """Where ``phrase`` stands in ``text`` as whole words (anywhere, for Chinese); else None."""
    if _CJK.search(phrase):
        found = text.find(phrase)
        return found if found >= 0 else None
    m = re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text)
    return m.start() if m else None


def _denied(text: str, start: int) -> bool:
    """A denial in the few words before ``start``, in the same clause: "a stroke, not caused by
    lupus", "never had epilepsy", "没有癫痫"."""
    clause = _CLAUSE.split(text[:start])[-1]
    words = re.findall(r"[\w']+", clause)[-3:]
    return any(w in _DENIALS for w in words) or clause.endswith(_CJK_DENIALS)


def _of_someone_else(text: str, start: int) -> bool:
    """Whether the clause before ``start`` says it of someone else: "my dad had a stroke"."""
    return _SOMEONE_ELSE.search(_CLAUSE.split(text[:start])[-1]) is not None


def mentions(text: str, phrase: str) -> bool:
    """Whether normalised ``text`` says ``phrase`` without denying it."""
    at = _at(phrase, text)
    return at is not None and not _denied(text, at)


def _named(text: str, phrase: str) -> int | None:
    """Where ``text`` names ``phrase`` of the patient, not denied; else None."""
    at = _at(phrase, text)
    if at is None or _denied(text, at) or _of_someone_else(text, at):
        return None
    return at


def _qualified(text: str, named_at: Sequence[int]) -> bool:
    """A qualification the site must weigh ("but it's controlled", "just creams"); an "only"
    just before what is named ("only at night") does not qualify it."""
    if _QUALIFIED.search(text):
        return True
    return any(
        not any(m.end() + 1 == at or m.end() == at for at in named_at) for m in _ONLY.finditer(text)
    )


def describes(text: str, phrases: Sequence[str]) -> Literal["yes", "unsure"] | None:
    """ "yes" when the reply names one of ``phrases`` (not denied, not of someone else),
    "unsure" when it also says when or qualifies it, None when it names none of them."""
    t = normalise(text)
    named_at = [at for at in (_named(t, p) for p in phrases) if at is not None]
    if not named_at:
        return None
    if _WHEN.search(_HOW_OFTEN.sub(" ", t)) or _qualified(t, named_at):
        return "unsure"
    return "yes"
