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
     "unrelated"}
)  # fmt: skip
# When something happened: the question's time window may not include it.
_WHEN = re.compile(
    r"(?<!\w)(?:ago|years?|yrs?|months?|weeks?|days?|last|since|when i was|as a (?:child|kid|teen"
    r"|teenager)|(?:19|20)\d\d|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)(?!\w)"
    r"|年|月|周|星期|天前|以前|之前|小时候"
)


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


def mentions(text: str, phrase: str) -> bool:
    """Whether normalised ``text`` says ``phrase`` without denying it."""
    at = _at(phrase, text)
    return at is not None and not _denied(text, at)


def describes(text: str, phrases: Sequence[str]) -> Literal["yes", "unsure"] | None:
    """ "yes" when the reply names one of ``phrases`` (not denied), "unsure" when it also says
    when, None when it names none of them."""
    t = normalise(text)
    if not any(mentions(t, p) for p in phrases):
        return None
    return "unsure" if _WHEN.search(t) else "yes"
