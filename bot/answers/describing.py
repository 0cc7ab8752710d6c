"""Answers that describe instead of saying yes or no: "parkinsons", "heart attack in march".

A yes/no question names what it asks about (``describes`` in the protocol, per language). A reply
with no yes or no in it that names one of those things, not denied, is read as a yes; where it
also says when ("in 2015", "8 years ago"), the time may fall outside the question's window, so it
is read as not sure and left for the site. Pure functions of the text; nothing is logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

from bot.answers.text import normalise
from bot.answers.words import word_list, word_pattern

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
    r"october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)(?!\w)|"
    + word_pattern("describing_when_patterns").pattern
)


# "3 times a week", "once a day": how often, not when.
_HOW_OFTEN = re.compile(
    r"(?<!\w)(?:a|per|every|each|one|twice a|times a) (?:day|week|month|year)(?!\w)(?! ago)"
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
# A question about another person: the patient's parent or guardian.
_ASKS_ABOUT_SOMEONE_ELSE = re.compile(r"(?<!\w)(?:parent|guardian)s?(?!\w)", re.IGNORECASE)
_ME_TOO = re.compile(
    r"(?<!\w)(?:me too|so did i|so have i|i also|i did too|i have too|me as well)(?!\w)"
)
_ONLY = re.compile(r"(?<!\w)(?:only|just)(?!\w)")
# "Only X", "just X", "X, that's all" when X is not what the question asks about: a no. Not
# "just had", "just finished": there "just" means recently.
_ONLY_OTHER = re.compile(
    r"(?<!\w)(?:only|just)(?! (?:had|finished|started|got|been|taken|took|stopped|found|"
    r"diagnosed|come|came|left|out|now|recently|last)(?!\w))(?!\w)|that'?s all|thats all"
)

_CJK = re.compile(r"[\u3400-\u9fff]")
_CLAUSE = re.compile(r"[,;.!?:，。；！？]")
# Languages without spaces: their denials and the people a reply may be about, from the words
# files ("没有癫痫", "我爸爸中风过").
_CJK_DENIALS = tuple(word_list("denials"))
_CJK_SOMEONE_ELSE = tuple(word_list("someone_else"))
_CJK_SOMEONE_ELSE_HAS = tuple(sorted(word_list("someone_else_has"), key=len, reverse=True))


def _cjk_of_someone_else(clause: str) -> bool:
    """ "我爸爸中风过", "妈妈有类风湿": a person, then only words saying they have it. Not "妈妈在我
    身边" (the person is what the question asks about)."""
    for who in _CJK_SOMEONE_ELSE:
        at = clause.rfind(who)
        if at < 0:
            continue
        between = clause[at + len(who) :]
        while between:
            word = next((w for w in _CJK_SOMEONE_ELSE_HAS if between.startswith(w)), None)
            if word is None:
                break
            between = between[len(word) :]
        if not between.strip():
            return True
    return False


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
    clause = re.split(r"(?<!\w)(?:and|but)(?!\w)", _CLAUSE.split(text[:start])[-1])[-1]
    if _SOMEONE_ELSE.search(clause) is not None:
        return True
    return _cjk_of_someone_else(re.split("和|还有|但是|不过|我自己|自己", clause)[-1])


def mentions(text: str, phrase: str) -> bool:
    """Whether normalised ``text`` says ``phrase`` without denying it."""
    at = _at(phrase, text)
    return at is not None and not _denied(text, at)


def _named(text: str, phrase: str, others: bool = True) -> int | None:
    """Where ``text`` names ``phrase`` of the patient, not denied; else None."""
    at = _at(phrase, text)
    if at is None or _denied(text, at) or (others and _of_someone_else(text, at)):
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


_DAYS = {"day": 1.0, "week": 7.0, "month": 30.4, "year": 365.25}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}  # fmt: skip
_UNIT = r"(day|week|month|year)s?"
_AMOUNT = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
# The windows a question asks about: "in the last 12 months", "in the past year".
_ASKED_WINDOW = re.compile(rf"(?:last|past) (?:{_AMOUNT} )?{_UNIT}", re.IGNORECASE)
# "Have you ever...", and "Have you..." / "Has a doctor..." with no window: at any time.
_ASKED_EVER = re.compile(r"(?<!\w)ever(?!\w)|^\s*(?:have|has) ", re.IGNORECASE)
_ASKED_PLANS = re.compile(r"(?<!\w)(?:plan|planning|planned|soon)(?!\w)", re.IGNORECASE)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")  # fmt: skip
# When, as patients say it: each a range of days before today.
_AGO = re.compile(rf"(?<!\w){_AMOUNT} {_UNIT} ago(?!\w)")
_LAST = re.compile(r"(?<!\w)(last|this) (week|month|year)(?!\w)")
_YEAR = re.compile(r"(?<!\w)(?:19|20)\d\d(?!\w)")
_MONTH = re.compile(rf"(?<!\w)in ({'|'.join(_MONTHS)})(?! \d)(?!\w)")
_NOW = re.compile(r"(?<!\w)(?:still|right now|at the moment|currently|since|yesterday|today)(?!\w)")
_FUTURE = re.compile(r"(?<!\w)(?:next (?:week|month|year)|tomorrow|soon)(?!\w)")
_LONG_AGO = re.compile(
    r"(?<!\w)(?:(?:many|some|several|a few|few) )?(?:years|ages|(?:a )?long time) ago(?!\w)"
)
_CHILDHOOD = re.compile(
    r"(?<!\w)(?:as a (?:child|kid|baby|toddler|teen|teenager)|when i was (?:a )?(?:child|kid|"
    r"little|baby|teen|teenager|young)|in (?:my )?childhood)(?!\w)"
)
_AGE_NOW = re.compile(r"(?<!\w)(?:i'?m|i am|im) (\d{2})(?: now)?(?!\w)")
_DURATION = re.compile(rf"(?<!\w)for {_AMOUNT} {_UNIT}(?!\w)")
_Range = tuple[float, float]


def _windows(asked: str) -> tuple[float, ...] | Literal["ever"] | None:
    """The question's time windows in days, "ever", or None (it asks about now)."""
    found = tuple(
        float(_NUMBERS.get(n, 0) or int(n) if n else 1) * _DAYS[u]
        for n, u in _ASKED_WINDOW.findall(asked)
    )
    if found:
        return found
    return "ever" if _ASKED_EVER.search(asked) else None


def _times(text: str, today: date) -> tuple[list[_Range], bool] | None:
    """The times a reply names, as ranges of days ago, and whether one is in the future; None
    when it says when in a way these rules do not read ("as a child", "in my twenties")."""
    rest = _DURATION.sub(" ", _HOW_OFTEN.sub(" ", text))
    ranges: list[_Range] = []
    for n, u in _AGO.findall(rest):
        days = float(_NUMBERS.get(n, 0) or int(n)) * _DAYS[u]
        ranges.append((days - _DAYS[u] / 2, days + _DAYS[u] / 2))
    for which, u in _LAST.findall(rest):
        ranges.append((0.0, (2 if which == "last" else 1) * _DAYS[u]))
    for y in _YEAR.findall(rest):
        start, end = date(int(y), 1, 1), date(int(y), 12, 31)
        ranges.append((max((today - end).days, 0), max((today - start).days, 0)))
    for name in _MONTH.findall(rest):
        month = _MONTHS.index(name) + 1
        year = today.year if month <= today.month else today.year - 1
        start = date(year, month, 1)
        ranges.append((max((today - start).days - 31, 0), (today - start).days))
    if _LONG_AGO.search(_AGO.sub(" ", rest)):
        ranges.append((365.0, math.inf))
    if _CHILDHOOD.search(rest):
        age = _AGE_NOW.search(rest)  # "as a child, i'm 35 now": 17 years or more ago
        ranges.append(((int(age.group(1)) - 18) * 365.25 if age else 0.0, math.inf))
    if _NOW.search(rest):  # "still on antibiotics": whatever else it says, it is now
        return [(0.0, 0.0)], False
    future = _FUTURE.search(rest) is not None
    for read in (_AGO, _LAST, _YEAR, _MONTH, _FUTURE, _NOW, _LONG_AGO, _CHILDHOOD, _AGE_NOW):
        rest = read.sub(" ", rest)
    if _WHEN.search(rest):
        return None
    return ranges, future


def _in_window(
    text: str, asked: str | None, today: date | None = None
) -> Literal["yes", "no", "unsure"]:
    """Whether the times a reply names fall in the question's window."""
    windows = _windows(asked or "")
    times = _times(text, today or date.today())
    if windows is None or times is None:
        return "unsure"
    ranges, future = times
    if future:
        return "yes" if asked and _ASKED_PLANS.search(asked) else "unsure"
    if windows == "ever":
        return "yes"
    if all(hi <= min(windows) for _, hi in ranges):
        return "yes"
    if all(lo > max(windows) for lo, _ in ranges):
        return "no"
    return "unsure"


def describes(
    text: str, phrases: Sequence[str], asked: str | None = None, today: date | None = None
) -> Literal["yes", "no", "unsure"] | None:
    """ "yes" when the reply names one of ``phrases`` (not denied, not of someone else),
    None when it names none of them. When it also says when, ``asked`` (the question, in
    English) gives the window: a time inside it stays "yes", one wholly before it is "no", any
    other is "unsure"; so is a qualified reply ("but it's controlled"). A phrase written with a
    leading "?" ("?bipolar") names something the site must judge: alone it is "unsure"; one
    with a leading "!" ("!formula fed") answers no, and next to something asked about is
    "unsure". "Only X" naming none of the phrases ("migraines only", "just a cold") is a "no"."""
    t = normalise(text)
    # "My mum is with me" answers a question about a parent: there a reply about someone else
    # is not someone else's illness.
    others = not (asked and _ASKS_ABOUT_SOMEONE_ELSE.search(asked))
    # "!formula fed": words that answer no. With something the question asks about, unsure.
    denies = any(_named(t, p[1:], others) is not None for p in phrases if p.startswith("!"))
    phrases = [p for p in phrases if not p.startswith("!")]
    if denies:
        asked_named = any(_named(t, p.removeprefix("?"), others) is not None for p in phrases)
        return "unsure" if asked_named else "no"
    if (
        not any(_named(t, p.removeprefix("?"), others) is not None for p in phrases)
        and any(
            _at(p.removeprefix("?"), t) is not None
            and others
            and _of_someone_else(t, _at(p.removeprefix("?"), t) or 0)
            for p in phrases
        )
        and not _ME_TOO.search(t)
    ):
        return "no"  # "my dad had a stroke": someone else's, and nothing of the patient's
    named_at = [
        at
        for at in (_named(t, p, others) for p in phrases if not p.startswith("?"))
        if at is not None
    ]
    if not named_at:
        # "?bipolar": something the site must judge, never a yes by itself.
        if any(_named(t, p[1:], others) is not None for p in phrases if p.startswith("?")):
            return "unsure"
        return "no" if _ONLY_OTHER.search(t) else None
    when = "yes"
    if _WHEN.search(_HOW_OFTEN.sub(" ", t)):
        when = _in_window(t, asked, today)
    if when == "no":
        return "no"
    if when == "unsure" or _qualified(t, named_at):
        return "unsure"
    return "yes"
