"""Numbers in digits or English words, and ages."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.answers.text import _phrases, normalise
from bot.answers.words import canonical

_UNIT_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_TENS_WORDS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "ninty": 90,
}  # fmt: skip
_SCALE_WORDS = {"thousand": 1000, "million": 1_000_000}
_ARTICLES = ("a", "an")
_MINUS = frozenset({"-", "\u2212", "\u2013", "\u2014", "minus", "negative"})
_MAX_DIGITS = 12
# The parsers read only the start of a reply: an answer is a few words, and a pasted page must not
# cost seconds of regex work.
MAX_CHARS = 500

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|\S")
_LETTERS_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_MIXED_FRACTION = re.compile(r"(?<![\d.,/])(\d+) ([123])/([234])(?![\d/])")
_FRACTION = re.compile(r"(?<![\d.,/])([123])/([234])(?![\d/])")


@dataclass(frozen=True)
class _Tok:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class _Num:
    value: float
    first: int  # index of its first token
    stop: int  # index after its last token


def _fraction_text(whole: str, num: str, den: str) -> str:
    value = (int(whole) if whole else 0) + int(num) / int(den)
    return f"{value:.6g}"


def _numeric_text(text: str) -> str:
    """Normalised text with "thirty-four" as two words and "1 1/2" as "1.5"."""
    t = _LETTERS_HYPHEN.sub(" ", normalise(text))

    def mixed(m: re.Match[str]) -> str:
        if int(m.group(2)) >= int(m.group(3)) or len(m.group(1)) > _MAX_DIGITS:
            return m.group()
        return _fraction_text(m.group(1), m.group(2), m.group(3))

    def simple(m: re.Match[str]) -> str:
        if int(m.group(1)) >= int(m.group(2)):
            return m.group()
        return _fraction_text("", m.group(1), m.group(2))

    return _FRACTION.sub(simple, _MIXED_FRACTION.sub(mixed, t))


def _tokens(text: str) -> list[_Tok]:
    return [_Tok(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _digits_value(token: str) -> float | None:
    """The value of a digit token: "34", "7.5", "7,5" (decimal comma), "1,000" (thousands)."""
    if len(token) > _MAX_DIGITS:
        return None
    if token.isdecimal():  # not "❶" or "²" (digits int() cannot read)
        return float(int(token))
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        return float(token.replace(",", ""))
    if re.fullmatch(r"\d+[.,]\d+", token):
        return float(token.replace(",", "."))
    return None  # "1.2.3", "12,5,6": a date or a list, not one number


def _half_tail(toks: list[_Tok], j: int) -> tuple[float, int]:
    """ "and a half" / "and half" after a number: (0.5, index after) or (0, j)."""
    words = [t.text for t in toks[j : j + 3]]
    if words[:3] == ["and", "a", "half"]:
        return 0.5, j + 3
    if words[:2] == ["and", "half"]:
        return 0.5, j + 2
    return 0.0, j


def _read_number(toks: list[_Tok], i: int) -> tuple[float, int] | None:
    """Read one number starting at ``toks[i]``: (value, index after it), or None.

    Digits ("34", "7.5", "1,000", "2 thousand"), words ("thirty four", "a hundred",
    "one hundred and five", "a dozen", "seven point five") and halves ("half",
    "seven and a half", "2 and a half"). "a" on its own is not a number.
    """
    n = len(toks)
    word = toks[i].text
    nxt = toks[i + 1].text if i + 1 < n else ""
    if word[0].isdigit():
        value = _digits_value(word)
        if value is None:
            return None
        j = i + 1
        if nxt == "hundred" and value > 0:
            value, j = value * 100, j + 1
        if j < n and toks[j].text in _SCALE_WORDS and value > 0:
            value, j = value * _SCALE_WORDS[toks[j].text], j + 1
        half, j = _half_tail(toks, j)
        return value + half, j
    if word == "half" or (word in _ARTICLES and nxt == "half"):
        j = i + 1 if word == "half" else i + 2
        if j < n and toks[j].text in _ARTICLES:  # "half a year", "half a 10 mg tablet"
            j += 1
        return 0.5, j
    return _read_number_words(toks, i)


def _read_number_words(toks: list[_Tok], i: int) -> tuple[float, int] | None:
    n = len(toks)
    total = 0.0
    group = 0.0
    last: str | None = None  # kind of the last word read
    scale_seen = float("inf")
    j = i
    if toks[j].text in _ARTICLES:
        if j + 1 < n and toks[j + 1].text in ("hundred", "dozen", *_SCALE_WORDS):
            group, last, j = 1, "article", j + 1
        else:
            return None
    while j < n:
        word = toks[j].text
        if word in _UNIT_WORDS:
            value = _UNIT_WORDS[word]
            if value == 0:
                if last is not None:
                    break
                return 0.0, j + 1
            if last == "tens" and value >= 10:
                break
            if last not in (None, "tens", "hundred", "scale", "and"):
                break
            group += value
            last = "teen" if value >= 10 else "unit"
        elif word in _TENS_WORDS:
            if last not in (None, "hundred", "scale", "and"):
                break
            group += _TENS_WORDS[word]
            last = "tens"
        elif word == "hundred":
            if last not in ("unit", "teen", "article") or not 1 <= group <= 19:
                break
            group *= 100
            last = "hundred"
        elif word in _SCALE_WORDS:
            scale = _SCALE_WORDS[word]
            if last not in ("unit", "teen", "tens", "hundred", "article") or scale >= scale_seen:
                break
            total += group * scale
            group, last, scale_seen = 0, "scale", scale
        elif word == "dozen":
            if last not in ("unit", "teen", "tens", "article") or total:
                break
            group *= 12
            last = "dozen"
            j += 1
            break
        elif word == "and":
            following = toks[j + 1].text if j + 1 < n else ""
            if last not in ("hundred", "scale") or not (
                following in _TENS_WORDS or _UNIT_WORDS.get(following, 0) > 0
            ):
                break
            last = "and"
        elif word == "point" and last in ("unit", "teen", "tens"):
            decimals = ""
            k = j + 1
            while k < n and toks[k].text in _UNIT_WORDS and _UNIT_WORDS[toks[k].text] < 10:
                decimals += str(_UNIT_WORDS[toks[k].text])
                k += 1
            if not decimals:
                break
            return total + group + float("0." + decimals), k
        else:
            break
        j += 1
    if last in (None, "article", "and"):
        return None
    half, j = _half_tail(toks, j)
    return total + group + half, j


def _scan_numbers(toks: list[_Tok]) -> tuple[list[_Num], bool]:
    """Every number in the tokens, and whether the text has a number that is not a plain amount.

    The flag is raised by negative numbers ("-5", "minus five"), decades ("30s"), dates and
    other digit groups that are not one number ("12.05.1990").
    """
    numbers: list[_Num] = []
    odd = False
    i = 0
    while i < len(toks):
        tok = toks[i]
        prev = toks[i - 1] if i else None
        glued_to_word = (
            prev is not None
            and prev.end == tok.start
            and prev.text[0].isalpha()
            and prev.text not in ("x", "×")
        )
        if tok.text[0].isdigit() and glued_to_word:
            i += 1  # part of a name: "b12", "rc18", "covid19"
            continue
        read = _read_number(toks, i)
        if read is None:
            if tok.text[0].isdigit():
                odd = True
            i += 1
            continue
        value, j = read
        if prev is not None and prev.text in _MINUS:
            before = toks[i - 2] if i >= 2 else None
            is_range = before is not None and (before.text[0].isdigit() or before.text in
                                               _UNIT_WORDS or before.text in _TENS_WORDS)
            if prev.text in ("minus", "negative") or not is_range:
                odd = True
        after = toks[j] if j < len(toks) else None
        if (
            after is not None
            and tok.text[0].isdigit()
            and after.start == toks[j - 1].end
            and (after.text == "s" or (after.text == "'" and _next_is(toks, j, "s")))
            and value % 10 == 0
        ):
            odd = True  # "in my 30s", "the 1990's"
        numbers.append(_Num(value, i, j))
        i = j
    return numbers, odd


def _next_is(toks: list[_Tok], j: int, word: str) -> bool:
    return j + 1 < len(toks) and toks[j + 1].text == word


def _clean(value: float) -> float:
    return float(round(value, 6))


def parse_number(text: str) -> float | None:
    """The number in the text, in digits or English words; None if there is none or several.

    "I'm 34", "thirty-four", "one hundred and five", "7,5", "1,000", "seven and a half".
    Two different numbers ("34 or 35") and negative numbers give None. Only the first
    ``MAX_CHARS`` characters are read.
    """
    toks = _tokens(_numeric_text(canonical(text[:MAX_CHARS], "number")))
    numbers, odd = _scan_numbers(toks)
    values = {n.value for n in numbers}
    if odd or len(values) != 1:
        return None
    return _clean(values.pop())


# ---- ages -------------------------------------------------------------------------------------

DAYS_PER_WEEK = 7
DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25

# A birth year and a stated age agree when they add up to the year of the reply (or the year
# before). The parsers have no clock (they are pure), so "the year of the reply" is a window:
# no reply is typed before 2025, when this was written.
_EARLIEST_REPLY_YEAR = 2025
_LATEST_REPLY_YEAR = 2100

_NUMBER_MARK, _YEAR_MARK = "N", "Y"  # upper case: normalised text has none
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WEEKDAYS = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_ORDINAL = r"(?:st|nd|rd|th)"
_NUM = rf"{_NUMBER_MARK}{_ORDINAL}?"

# Words a patient puts around an age that make it an estimate or a bound: ask again.
_AGE_DOUBT = _phrases(
    r"over|under|more than|less than|about(?! to)|around|roughly|approx\w*|circa|ish|at least",
    r"at most|or so|odd|something|plus|above|below|between|approaching|pushing|older|younger",
    r"maybe|perhaps|probably|guess|think|thereabouts|and up|or more",
)
_AGE_SYMBOLS = re.compile(r"[<>~+=]|\d[.,]\d\d")  # "75+", "<18", "34,35"
# After the number: the unit of an age.
_YEARS_AFTER = re.compile(
    r"\s*-?\s*(?:years?|yrs?|yrz|yeras|yaers|y/o|y\.o|yo|y)(?![a-z'])"
    r"(?:\s*-?\s*old)?(?:\s+of\s+age)?"
)
_SHORT_UNIT_AFTER = re.compile(
    r"\s*-?\s*(?P<unit>days?|dys?|weeks?|wks?|fortnights?|months?|mos?|mths?|mnths?|monthes)"
    r"(?![a-z'])"
)
_SHORT_UNIT_DAYS = {"d": 1.0, "w": float(DAYS_PER_WEEK), "f": 14.0, "m": DAYS_PER_MONTH}
_AGO = re.compile(r"\s+ago(?![a-z])")

# Before the number (matched at the end of the text before it).
_BORN_BEFORE = re.compile(
    r"(?:born|birth|dob|d\.o\.b|yob)(?:\s*(?:in|on|year|date|was|is|:|-|the year|of birth))*\s*$"
)
_BORN_AGO_BEFORE = re.compile(r"\bborn(?:\s+(?:exactly|just))?\s*$")
_DATE_BEFORE = re.compile(rf"(?:\bon|\bthe|\bof|\b{_MONTHS})\s*$")
_PART_BEFORE = re.compile(
    rf"{_NUMBER_MARK}(?:\s*-?\s*(?:years?|yrs?|y))?(?:\s+old)?[\s,&+]*(?:and)?\s*$"
)
_HORIZON_BEFORE = re.compile(r"\b(?:in|within)\s*$")
# Another person's age ("my mum's 60"), or the patient's at some event ("diagnosed at 15").
_SOMEONE_ELSE_BEFORE = re.compile(
    r"\b(?:my|his|her|their|our)\s+(?:mum|mom|mummy|mommy|mother|dad|daddy|father|parents?"
    r"|husband|wife|partner|boyfriend|girlfriend|fianc[eé]e?|grandma|grandmother|grandpa"
    r"|grandfather|gran|granny|nan|nana|sister|brother|sibling|friend|carer|guardian)"
    r"(?:'s|\s+is|\s+was)?(?:\s+age\s+is)?\s*$"
)
_AT_AGE_BEFORE = re.compile(r"\bat(?:\s+(?:the\s+)?age(?:\s+of)?)?\s*$")
_LENGTH_BEFORE = re.compile(r"\b(?:for|since|past|last|every|after)\s*$")
_NEARLY_BEFORE = re.compile(
    r"\b(?:nearly|almost|not quite|coming up to|coming up on|soon to be|soon|nigh on)\s*$"
)
_DOUBT_BEFORE = re.compile(
    r"(?:\b(?:over|under|above|below|past|pushing|approaching|nearer|about|around|roughly|circa"
    r"|maybe|probably|perhaps|like|mid|early|late|least|most|than|between|close to|not|yet|was"
    r"|were|been|when|until|till|before|after|from|since|by|if|or)|[<>~])"
    r"\s*(?:the\s+)?(?:age\s+)?(?:of\s+)?$"
)
_PAST_BEFORE = re.compile(r"\bturned\s*$")
_FUTURE_BEFORE = re.compile(
    r"\b(?:turns?|turning|be|become|becoming|going on|reach|reaching)\s*$"
)
# After the number, up to the end of its clause.
_CLAUSE_END = re.compile(r"[,;.!?()\[\]]|\s(?:and|but|so|because|cause|cos|though|although)\s")
_DOUBT_AFTER = re.compile(r"\s*-?\s*(?:ish|odd|something|plus|or so|or older|and up|or more)\b")
_TODAY = re.compile(r"(?:today|tonight)")
# A birthday still to come, less than a year away.
_SOON = re.compile(
    rf"(?:next\s+(?:week|month|{_MONTHS}|{_WEEKDAYS})|tomorrow|(?:very\s+)?soon|shortly"
    rf"|in\s+(?:a|one|{_NUMBER_MARK}|a\s+few|a\s+couple(?:\s+of)?|few|two|three)"
    r"\s+(?:days?|weeks?|months?|fortnights?)|in\s+a\s+fortnight"
    rf"|in\s+{_MONTHS}|on\s+{_WEEKDAYS}|on\s+(?:the\s+)?{_NUM}(?:\s+of)?(?:\s+{_MONTHS})?"
    rf"|on\s+{_MONTHS}\s+{_NUM}|at\s+the\s+end\s+of\s+(?:the|this)\s+(?:week|month)"
    r"|later\s+this\s+(?:week|month)|on\s+my\s+(?:next\s+)?birthday"
    r"|(?:at\s+|on\s+)?(?:my\s+)?next\s+birthday)"
)
# Also still to come, but only when the words say so ("I'll be 40 this year"): "I'm 40 this
# year" may be said after the birthday.
_THIS_PERIOD = re.compile(
    rf"(?:later\s+)?this\s+(?:coming\s+)?(?:week|weekend|month|year|spring|summer|autumn|fall"
    rf"|winter|{_WEEKDAYS})"
)
# A birthday that has passed, less than a year ago.
_RECENTLY = re.compile(
    rf"(?:last\s+(?:week|month|{_WEEKDAYS})|yesterday|today|recently|just\s+now"
    r"|(?:earlier\s+)?this\s+(?:week|month|year)|(?:over|at)\s+the\s+weekend"
    rf"|in\s+{_MONTHS}|on\s+{_WEEKDAYS}|on\s+(?:the\s+)?{_NUM}(?:\s+of)?(?:\s+{_MONTHS})?"
    rf"|on\s+{_MONTHS}\s+{_NUM}"
    rf"|(?:a|one|{_NUMBER_MARK}|a\s+few|a\s+couple(?:\s+of)?|few|two|three)"
    r"\s+(?:days?|weeks?|months?|fortnights?)\s+ago)"
)
_STARTS_OTHER_TIME = re.compile(r"(?:next|last|this|in|by|on|or|to|from|until|till)\b")


@dataclass(frozen=True)
class _AgeReading:
    """What one number in an age answer is."""

    kind: str  # "age" (the age now), "birth" (a birth year), "context", "unclear"
    value: float = 0.0


_UNCLEAR = _AgeReading("unclear")
_CONTEXT = _AgeReading("context")


def _is_year_like(token: str, value: float) -> bool:
    return len(token) == 4 and value.is_integer() and 1900 <= value <= 2100


def _age_skeleton(t: str, toks: list[_Tok], numbers: list[_Num]) -> tuple[str, list[int]]:
    """The text with each number replaced by one mark, and where each mark is."""
    out: list[str] = []
    marks: list[int] = []
    pos = 0
    length = 0
    for num in numbers:
        start, end = toks[num.first].start, toks[num.stop - 1].end
        out.append(t[pos:start])
        length += start - pos
        mark = _YEAR_MARK if _is_year_like(toks[num.first].text, num.value) else _NUMBER_MARK
        out.append(mark)
        marks.append(length)
        length += 1
        pos = end
    out.append(t[pos:])
    return "".join(out), marks


def _read_age_number(value: float, left: str, right: str, mark: str) -> _AgeReading:
    """Read one number of an age answer from the words before (``left``) and after it."""
    if re.match(rf"{_ORDINAL}(?![a-z])", right):  # "the 15th": a date; "my 40th": unclear
        return _CONTEXT if _DATE_BEFORE.search(left) else _UNCLEAR
    years = _YEARS_AFTER.match(right)
    ago = _AGO.match(right, years.end()) if years else None
    if ago and _BORN_AGO_BEFORE.search(left):  # "I was born 40 years ago"
        clause = _CLAUSE_END.split(right[ago.end() :], maxsplit=1)[0].strip()
        return _AgeReading("age", math.floor(value)) if not clause else _UNCLEAR
    if _BORN_BEFORE.search(left):
        return _AgeReading("birth", value) if mark == _YEAR_MARK else _UNCLEAR
    if mark == _YEAR_MARK or re.match(rf"\s+{_MONTHS}(?![a-z])", right):
        return _CONTEXT  # "since 2015", "on 15 march"
    short = _SHORT_UNIT_AFTER.match(right)
    if short:
        days = value * _SHORT_UNIT_DAYS[short.group("unit")[0]]
        if _PART_BEFORE.search(left):  # "75 years and 3 months"
            return _CONTEXT if days < DAYS_PER_YEAR else _UNCLEAR
        if _HORIZON_BEFORE.search(left) or _AGO.match(right, short.end()):
            return _CONTEXT if days < DAYS_PER_YEAR else _UNCLEAR  # "in 2 weeks", "2 months ago"
        if _LENGTH_BEFORE.search(left):
            return _CONTEXT  # "on steroids for 3 months"
        return _UNCLEAR  # "18 months": never an age in years
    if _SOMEONE_ELSE_BEFORE.search(left) or _AT_AGE_BEFORE.search(left):
        return _CONTEXT
    if years:
        if ago or _LENGTH_BEFORE.search(left):
            return _CONTEXT  # "diagnosed 10 years ago", "lupus for 10 years"
        right = right[years.end() :]
    if _DOUBT_AFTER.match(right):
        return _UNCLEAR
    clause = _CLAUSE_END.split(right, maxsplit=1)[0].strip()
    if _NEARLY_BEFORE.search(left):  # "nearly 18": 17
        return _AgeReading("age", math.ceil(value) - 1) if not clause else _UNCLEAR
    if _DOUBT_BEFORE.search(left):
        return _UNCLEAR
    if _PAST_BEFORE.search(left):  # "I turned 52 last month"
        ok = not clause or _RECENTLY.fullmatch(clause)
        return _AgeReading("age", math.floor(value)) if ok else _UNCLEAR
    if _TODAY.fullmatch(clause):  # "I turn 40 today"
        return _AgeReading("age", math.floor(value))
    if _FUTURE_BEFORE.search(left):  # "I'll be 40 next week", "turning 76"
        ok = not clause or _SOON.fullmatch(clause) or _THIS_PERIOD.fullmatch(clause)
        return _AgeReading("age", math.ceil(value) - 1) if ok else _UNCLEAR
    if _SOON.fullmatch(clause):  # "40 next week"
        return _AgeReading("age", math.ceil(value) - 1)
    if _STARTS_OTHER_TIME.match(clause):  # "I'm 40 next year", "40 this year", "40 or 41"
        return _UNCLEAR
    return _AgeReading("age", math.floor(value))  # "75 and a half": 75


def parse_age(text: str) -> float | None:
    """The age now, in whole years, 0 to 120; None when the reply does not say it for sure.

    The age is read in its context: "I'm 75, I turn 76 next month" and "I turned 75 last
    month" are 75, "I'll be 40 next week" and "nearly 18" one less, "75 and a half" and
    "75 years and 3 months" 75 (whole years, rounded down). A birth year next to an age must
    agree with it ("I'm 19, born 2007"); on its own it is not turned into an age, since the
    date of the reply would be a guess. None for estimates and bounds ("over 70", "in my 30s",
    "70 something"), two ages ("34 or 35"), an age in months ("18 months"), and a birthday
    further off ("I'll be 40 next year"): the bot asks again. Only the first ``MAX_CHARS``
    characters are read.
    """
    head = canonical(text[:MAX_CHARS], "age")
    t = _numeric_text(head)
    if _AGE_DOUBT.search(t) or _AGE_SYMBOLS.search(normalise(head)):
        return None
    toks = _tokens(t)
    numbers, odd = _scan_numbers(toks)
    if odd or not numbers:
        return None
    skeleton, marks = _age_skeleton(t, toks, numbers)
    readings = [
        _read_age_number(num.value, skeleton[:at], skeleton[at + 1 :], skeleton[at])
        for num, at in zip(numbers, marks, strict=True)
    ]
    ages = {r.value for r in readings if r.kind == "age"}
    if len(ages) != 1 or any(r.kind == "unclear" for r in readings):
        return None
    age = ages.pop()
    if not 0 <= age <= 120:
        return None
    for r in readings:
        if r.kind == "birth" and not (
            _EARLIEST_REPLY_YEAR <= r.value + age <= _LATEST_REPLY_YEAR
        ):
            return None  # "I'm 19, born 1950": one of them is wrong
    return float(age)
