"""Lengths of time, in days."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answers.numbers import (
    _ARTICLES,
    DAYS_PER_MONTH,
    DAYS_PER_WEEK,
    DAYS_PER_YEAR,
    MAX_CHARS,
    _clean,
    _half_tail,
    _numeric_text,
    _read_number,
    _Tok,
    _tokens,
)
from bot.answers.text import _phrases
from bot.answers.words import canonical, word_list

__all__ = ["DAYS_PER_MONTH", "DAYS_PER_WEEK", "DAYS_PER_YEAR", "parse_duration_days"]

# The words are in bot/answers/words/en.yml.
_DURATION_UNITS = {
    **dict.fromkeys(word_list("duration_day_units"), 1.0),
    **dict.fromkeys(word_list("duration_week_units"), float(DAYS_PER_WEEK)),
    **dict.fromkeys(word_list("duration_fortnight_units"), 14.0),
    **dict.fromkeys(word_list("duration_month_units"), DAYS_PER_MONTH),
    **dict.fromkeys(word_list("duration_year_units"), DAYS_PER_YEAR),
}
# Single letters count as units only when glued to the digits: "10d", "3w", "1y".
_GLUED_UNITS = {"d": 1.0, "w": float(DAYS_PER_WEEK), "y": DAYS_PER_YEAR}
_VAGUE_QUANTITIES = frozenset(word_list("duration_vague_quantities"))
_DURATION_JOINERS = frozenset({"and", ",", "plus", "&", "+"})
# "nearly 2 months" is a little under 2 months: a day less. "just over 2 months" a day more.
_JUST_UNDER = _phrases(
    r"nearly|almost|not quite|just under|just short of|just shy of|(?:just|slightly|a"
    r" (?:little|bit|tad)) (?:under|less than|short of)|coming up to|coming up on|getting on for",
)
_JUST_OVER = _phrases(
    r"(?<!no )(?<!not )(?:just|slightly|a (?:little|bit|tad)) (?:over|more than|longer than)",
    r"(?<!no )(?<!not )(?<!nothing )(?:more than|over(?! the (?:last|past))|longer than)",
    r"upwards of",
)
# "less than 2 months" could be a week: not a number we could use, ask again.
_DURATION_LIMITS = _phrases(
    r"less than|fewer than|under|below|not even|up to|at most|no more than|not more than",
    r"shorter than|not yet|within|<",
)
_ONE_DAY = 1.0
# "I just started last week": a start too recent to be a date, given as the whole reply.
_STARTED_RECENTLY = re.compile(
    r"(?:i\s+)?(?:(?:only|just)\s+)?(?:(?:started|began|begun|been on (?:it|them))\s+"
    r"(?:it\s+|them\s+|on\s+(?:it|them)\s+)?|since\s+)?"
    r"(?P<when>last week|yesterday|today|this morning)"
)
_STARTED_DAYS_AGO = {"last week": 7.0, "yesterday": 1.0, "today": 0.0, "this morning": 0.0}


@dataclass(frozen=True)
class _Span:
    days: float
    unit_days: float
    first: int
    stop: int


def _unit_at(toks: list[_Tok], k: int, glued_to: _Tok | None) -> tuple[float, int] | None:
    """The unit at ``toks[k]`` (skipping a hyphen, "6-month"): (days, index after) or None."""
    if k < len(toks) and toks[k].text == "-":
        k += 1
    if k >= len(toks):
        return None
    word = toks[k].text
    if word in _DURATION_UNITS:
        return _DURATION_UNITS[word], k + 1
    if word in _GLUED_UNITS and glued_to is not None and glued_to.end == toks[k].start:
        return _GLUED_UNITS[word], k + 1
    return None


def parse_duration_days(text: str) -> float | None:
    """A length of time in days: "2 months", "8 weeks", "a year and a half", "1 year 3 months".

    "about/around a year" is a year; "nearly/almost/not quite/just under 2 months" a day less
    than 2 months, "just over/more than/over 2 months" a day more, so that the answer falls on
    the right side of a line drawn at 2 months. A start "last week" is 7 days, "yesterday" 1
    (only as the whole reply; all are well under 8 weeks). None for vague amounts ("a few
    weeks"), bounds that could be far off ("less than 2 months", "up to a year"), dates ("since
    2020", "since March", "last month"), a number without a unit, and anything else unclear.
    Only the first ``MAX_CHARS`` characters are read.
    """
    t = _numeric_text(canonical(text[:MAX_CHARS], "duration"))
    recent = _STARTED_RECENTLY.fullmatch(t)
    if recent:
        return _STARTED_DAYS_AGO[recent.group("when")]
    days = _duration(t)
    return days if days is not None else _restated(t)


_CLAUSE_BREAK = re.compile(r"\s*[,;]\s*|\s+(?:but|so|i\.e|ie)\s+|\s*\(|\)\s*")


def _restated(t: str) -> float | None:
    """ "6 weeks, not quite 2 months yet": one exact length, and bounds that agree with it."""
    clauses = [c for c in _CLAUSE_BREAK.split(t) if c and c.strip()]
    if len(clauses) < 2:
        return None
    exact: list[float] = []
    bounds: list[tuple[float, float]] = []  # (reading, nudge)
    for clause in clauses:
        days = _duration(clause)
        if days is None:
            return None
        under, over = _JUST_UNDER.search(clause), _JUST_OVER.search(clause)
        if under or over:
            bounds.append((days, -_ONE_DAY if under else _ONE_DAY))
        else:
            exact.append(days)
    if len(set(exact)) != 1:
        return None
    value = exact[0]
    for days, nudge in bounds:
        bound = days - nudge  # the length the patient compared with
        if (nudge < 0 and not value < bound) or (nudge > 0 and not value > bound):
            return None  # "6 weeks, just over 2 months": which one?
    return value


def _duration(t: str) -> float | None:
    under, over = _JUST_UNDER.search(t), _JUST_OVER.search(t)
    if under and over:
        return None  # "nearly 2 months, more than 8 weeks": one is enough
    nudge = -_ONE_DAY if under else _ONE_DAY if over else 0.0
    t = _JUST_OVER.sub(" ", _JUST_UNDER.sub(" ", t))
    if _DURATION_LIMITS.search(t):
        return None
    toks = _tokens(t)
    spans: list[_Span] = []
    i = 0
    while i < len(toks):
        word = toks[i].text
        if word in _VAGUE_QUANTITIES:
            k = i + 1
            if k < len(toks) and toks[k].text == "of":
                k += 1
            if word == "couple" and _unit_at(toks, k, None):
                days, stop = _unit_at(toks, k, None)  # type: ignore[misc]
                first = i - 1 if i and toks[i - 1].text in _ARTICLES else i
                spans.append(_Span(2 * days, days, first, stop))
                i = stop
                continue
            if _unit_at(toks, k, None):
                return None  # "a few weeks", "several months"
            i += 1
            continue
        quantity: tuple[float, int] | None
        if word in _ARTICLES and _unit_at(toks, i + 1, None):
            quantity = (1.0, i + 1)
        else:
            quantity = _read_number(toks, i)
        if quantity is None:
            if word[0].isdigit() or word in _DURATION_UNITS:
                return None  # a date, a stray unit ("last year"), or digits that are no number
            i += 1
            continue
        value, j = quantity
        unit = _unit_at(toks, j, toks[j - 1])
        if unit is None:
            return None  # a number without a unit: "2020", "3 or 4 months"
        unit_days, stop = unit
        half, stop = _half_tail(toks, stop)  # "a year and a half"
        spans.append(_Span((value + half) * unit_days, unit_days, i, stop))
        i = stop
    if not spans:
        return None
    for before, after in zip(spans, spans[1:], strict=False):
        between = {tok.text for tok in toks[before.stop : after.first]}
        if not between <= _DURATION_JOINERS or after.unit_days >= before.unit_days:
            return None  # "2 months or 3 months", "3 months to a year"
    return _clean(max(0.0, sum(s.days for s in spans) + nudge))
