"""Numbers in digits or English words, and ages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answers.text import _phrases, normalise

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
        if int(m.group(2)) >= int(m.group(3)):
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
    if token.isdigit():
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
    Two different numbers ("34 or 35") and negative numbers give None.
    """
    toks = _tokens(_numeric_text(text))
    numbers, odd = _scan_numbers(toks)
    values = {n.value for n in numbers}
    if odd or len(values) != 1:
        return None
    return _clean(values.pop())


_AGE_DOUBT = _phrases(
    r"born|birthday|birth|dob|d\.o\.b|months?|weeks?|days?|mos|yrs? ago|years ago",
    r"over|under|more than|less than|nearly|almost|about|around|roughly|approx\w*|ish|at least",
    r"turning|turn|going on|soon|next|mid|early|late|or so|odd|something|plus|above|below",
)


def parse_age(text: str) -> float | None:
    """An age in years, 0 to 120. None for a birth year, an age in months, or an estimate.

    "I was born in 1990" is not turned into an age (the date of the screening would be a
    guess), and "nearly 18" or "75+" is not an exact age: the bot asks again.
    """
    t = normalise(text)
    if _AGE_DOUBT.search(t) or re.search(r"[+<>~]", t):
        return None
    age = parse_number(t)
    if age is None or not 0 <= age <= 120:
        return None
    return age
