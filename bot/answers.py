"""Deterministic parsing of patients' free-text answers.

Patients are often unwell and typing on a phone, so the parsers accept many phrasings, spellings
and number formats. They never guess: when a reply could mean two things, or nothing recognisable,
they return None (or "unsure"), and the bot asks again or leaves the point for the site to confirm.

Everything here is a pure function of the text. Nothing is logged: the text is health data.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

YesNo = Literal["yes", "no", "unsure"]

DAYS_PER_WEEK = 7
DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25

MEDICINES_PATH = Path(__file__).resolve().with_name("medicines.yml")
DRUG_CLASSES = frozenset(
    {"glucocorticoid", "immunosuppressant", "biologic", "antimalarial", "nsaid", "other"}
)


# ---- normalising --------------------------------------------------------------------------------

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


# ---- yes / no / unsure --------------------------------------------------------------------------

_NOT = (
    r"(?:do ?n'?t|do not|doesn'?t|does not|did ?n'?t|did not|ca ?n'?t|can not|cannot|"
    r"could ?n'?t)"
)
# "Not sure", "don't know" and the like: the patient does not know.
_UNSURE = _phrases(
    r"not (?:(?:so|too|very|really|quite|entirely|totally|completely|that|at all|100 ?%?|"
    r"a hundred (?:%|percent)) )?(?:sure|certain|positive)",
    r"unsure|uncertain|unknown|not known|dunno|idk|idek|no idea|no clue|not a clue|clueless",
    r"(?:have ?n'?t|have not|haven'?t got|have not got) (?:a|any) (?:clue|idea)",
    rf"(?:i )?{_NOT} know",
    r"dont know|do not know|doesnt know|didnt know|dont no|don't no|who knows|god knows",
    r"hard to (?:say|tell)|ca ?n'?t say|cannot say|can not say|ca ?n'?t tell|cannot tell",
    rf"{_NOT} (?:remember|recall|recollect)|dont remember|cant remember|dont recall|cant recall",
    r"not remember|no memory|i forg[eo]t|forgotten|i'?ve forgotten|forgot",
    r"maybe|mayb|perhaps|possibly|might be|may be",
)
# Hedged answers: a yes or no the site would still have to confirm.
_HEDGED = _phrases(
    r"probably|prob|probs|likely|unlikely|i think|think so|i believe|believe so|i guess|i suppose",
    r"i reckon|i hope|hopefully|i doubt|doubt it|doubtful|might|might have|may have|could be",
    r"could have|sort of|kind of|kinda|sorta|more or less|somewhat|a little|a bit|slightly",
    r"pretty sure|fairly sure|quite sure|almost sure|nearly sure|reasonably sure",
    r"not that i(?:'m| am)? (?:know|aware)(?: of)?|not as far as i (?:know|can tell|remember)",
    r"as far as i (?:know|can tell|remember)|to my knowledge|i assume|presumably|apparently",
    r"sometimes|occasionally|on and off|off and on|now and then|partly|partially|depends",
    r"it depends|yes and no|yes or no|yes no|no yes|used to|not exactly|not always",
    r"not necessarily|not completely|not entirely|not fully|not quite|sometime",
)
# Words that neither answer nor hedge: "I'm sure", "no problem" (an agreement, not a "no").
_NEUTRAL = _phrases(
    r"i'?m sure|i am sure|im sure|for sure|make sure|making sure|to be sure",
    r"no problem|no problems|no worries|no prob|no rush|no hurry",
)
_NO = _phrases(
    r"(?:definitely|def|absolutely|certainly|of course|surely|hell|heck|really|still|sadly) not",
    r"not (?:really|at all|ever|once|yet|any ?more|now|currently|today|lately|recently|true|"
    r"correct|right|so|me)",
    r"no longer|never|none|nothing|nope+|nah+|nay|negative|no way|neither|nil|nada|noo+",
    r"false|untrue|wrong|incorrect|not the case",
    r"i (?:do ?n'?t|do not|dont|have ?n'?t|have not|havent|'?ve not|'?ve never|have never|am not|"
    r"'?m not|did ?n'?t|didnt|did not|was ?n'?t|wasnt|was not|wo ?n'?t|will not|ca ?n'?t|cannot|"
    r"can not|ai ?n'?t|never)",
    r"im not|i m not|i'm not|i've not|i'?ve never",
    r"do ?n'?t|dont|do not|have ?n'?t|havent|have not|has ?n'?t|hasnt|has not|is ?n'?t|isnt|"
    r"is not|am not|are ?n'?t|arent|are not|was ?n'?t|wasnt|was not|were ?n'?t|werent|did ?n'?t|"
    r"didnt|did not|wo ?n'?t|wont|not",
    r"no",
)
_NEGATION_AHEAD = r"(?!\s+(?:not|never|no|none|nothing|any|n't)\b)"
# "I am", "I do", "yes I have": a yes only when nothing follows ("I am a man" is no answer).
_AUX_ALONE = (
    r"(?:\s+(?:indeed|actually|too|yes|yeah|already|still|sadly|unfortunately))?"
    r"(?=\s*(?:$|[,.;!]|and\b|but\b|yes\b|yeah\b))"
)
_YES = _phrases(
    r"(?:that'?s|that is|thats|it'?s|it is|quite|exactly|yes|yeah) (?:right|correct|true|it)",
    r"of course|ofc|definitely|absolutely|certainly|indeed|affirmative|correct|true|exactly",
    r"totally|sure|surely|yes please|uh huh|uh-huh|mhm+|mm hmm|yessir",
    r"ye+s+|ye+a+h*|yeh|yah|ya+|yu+p+|ye+p+|yas+|ys|yse|yez",
    rf"i (?:do|am|have|did|was|will|can|does){_AUX_ALONE}",
    rf"i(?: have|'ve| ve|ve) (?:been|had|got){_NEGATION_AHEAD}|i (?:take|use){_NEGATION_AHEAD}",
)
_YES_EMOJI = frozenset("👍✅✔☑👌🙆")
_NO_EMOJI = frozenset("👎❌✖🚫🙅⛔")
_UNSURE_EMOJI = frozenset("🤷🤔❓❔")


def _claim(text: str, pattern: re.Pattern[str], taken: list[tuple[int, int]]) -> int:
    """Count the matches of ``pattern`` that overlap no earlier claim, and claim them."""
    found = 0
    for m in pattern.finditer(text):
        if m.end() == m.start():
            continue
        if all(m.end() <= a or m.start() >= b for a, b in taken):
            taken.append(m.span())
            found += 1
    return found


def _has_emoji(text: str, emoji: frozenset[str]) -> bool:
    return any(ch in emoji for ch in text)


def parse_yes_no(text: str) -> YesNo | None:
    """"yes", "no" or "unsure" for a reply to a yes/no question; None if it is none of them.

    Hedged answers ("I think so", "probably not") and contradictory ones ("yes and no") are
    "unsure": the site must confirm them. An "I don't know" never counts as a "no".
    """
    if is_unsure(text) or _has_emoji(text, _UNSURE_EMOJI):
        return "unsure"
    t = normalise(text)
    yes = _has_emoji(text, _YES_EMOJI)
    no = _has_emoji(text, _NO_EMOJI)
    if t in ("y", "right"):
        yes = True
    elif t == "n":
        no = True
    elif t:
        taken: list[tuple[int, int]] = []
        if _claim(t, _HEDGED, taken):
            return "unsure"
        _claim(t, _NEUTRAL, taken)
        no = _claim(t, _NO, taken) > 0 or no
        yes = _claim(t, _YES, taken) > 0 or yes
    if yes and no:
        return "unsure"
    if yes:
        return "yes"
    if no:
        return "no"
    return None


def is_unsure(text: str) -> bool:
    """True when the patient says they do not know ("not sure", "idk", "can't remember", "?").

    Any such phrase counts, even next to an answer ("maybe 3 months"): a doubtful answer is
    left for the site to confirm rather than taken at face value.
    """
    marks = set(text) - set(" \t\r\n!.")
    if marks and marks <= {"?", "¿"}:
        return True
    return _UNSURE.search(normalise(text)) is not None


_NONE_ANSWER = _phrases(
    r"none|nothing|nil|nada|zero|n/a|na|no|nope|nah|not|do ?n'?t|dont|do not",
    rf"(?:i )?(?:{_NOT}|dont|didnt|am not|'?m not|im not|not) "
    r"(?:take|use|have|need|taking|using|on)",
    r"never (?:taken|take|took|had|used)",
)
_MEDICINE_WORDS = r"medicines?|meds?|medications?|drugs?|pills?|tablets?|treatments?|prescriptions?"
# What may surround a "none" without changing it: "nothing for my lupus at the moment, thanks".
_NONE_FILLER = _phrases(
    rf"{_MEDICINE_WORDS}|prescribed|regular|regularly|for (?:my |the )?lupus|for (?:it|that|this)",
    r"at the moment|right now|currently|at present|presently|now|today|these days|at all",
    r"any ?more|any ?thing|any|of (?:them|these|those|the above|the list|those listed)|above",
    r"yet|so far|thanks|thank you|thankyou|sorry|really|actually|honestly|please|well|um+|erm|hmm+",
    r"i'?m|im|i am|i|am|do|does|take|taking|use|using|on|have|having|it|them|that|this|the",
    r"at|all|of|for|my|a|an|and|or|whatsoever|ok|okay|lupus|sle",
)


def is_none_answer(text: str) -> bool:
    """True when the patient says they take no medicines ("none", "no meds", "I don't take any").

    Only when nothing else is said: "no steroids", "nothing except vitamins" or "no, I take
    Lyrica" name something, so they are not "none".
    """
    if is_unsure(text):
        return False
    t = normalise(text)
    if not t or _NONE_ANSWER.search(t) is None:
        return False
    rest = _NONE_FILLER.sub(" ", _NONE_ANSWER.sub(" ", t))
    return not re.search(r"[^\W_]", rest)


# ---- numbers ------------------------------------------------------------------------------------

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


# ---- durations ----------------------------------------------------------------------------------

_DURATION_UNITS = {
    **dict.fromkeys(("day", "days", "dy", "dys"), 1.0),
    **dict.fromkeys(("week", "weeks", "wk", "wks", "wek", "weks", "weeek"), float(DAYS_PER_WEEK)),
    **dict.fromkeys(("fortnight", "fortnights"), 14.0),
    **dict.fromkeys(
        ("month", "months", "mo", "mos", "mth", "mths", "mnth", "mnths", "monthes", "mon"),
        DAYS_PER_MONTH,
    ),
    **dict.fromkeys(("year", "years", "yr", "yrs", "yrz", "yeras", "yaers"), DAYS_PER_YEAR),
}
# Single letters count as units only when glued to the digits: "10d", "3w", "1y".
_GLUED_UNITS = {"d": 1.0, "w": float(DAYS_PER_WEEK), "y": DAYS_PER_YEAR}
_VAGUE_QUANTITIES = frozenset(
    {"few", "several", "some", "many", "multiple", "lots", "lot", "numerous", "various", "couple"}
)
_DURATION_JOINERS = frozenset({"and", ",", "plus", "&", "+"})
# "less than 2 months" is not 2 months, and not a number we could use: ask again.
_DURATION_LIMITS = _phrases(
    r"less than|fewer than|under|below|not quite|not even|up to|at most|no more than|shorter than",
    r"within|<",
)


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

    "over/about/nearly a year" is taken as a year. None for vague amounts ("a few weeks"), for
    dates ("since 2020"), for a number without a unit, and for anything else unclear.
    """
    t = _numeric_text(text)
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
    return _clean(sum(s.days for s in spans))


# ---- doses --------------------------------------------------------------------------------------

_MASS_UNITS = {
    **dict.fromkeys(("mg", "mgs", "milligram", "milligrams", "milligramme", "milligrammes"), 1.0),
    **dict.fromkeys(("g", "gm", "gms", "gram", "grams", "gramme", "grammes", "grm"), 1000.0),
    **dict.fromkeys(
        ("mcg", "mcgs", "μg", "ug", "microgram", "micrograms", "microgramme", "microgrammes"),
        0.001,
    ),
}
_PILL_WORDS = frozenset(
    {"tablet", "tablets", "tab", "tabs", "pill", "pills", "capsule", "capsules", "caps", "cap",
     "dose", "doses", "injection", "injections", "each"}
)  # fmt: skip
_TIMES = frozenset({"x", "×", "*"})
# A number followed by one of these is not a dose in mg.
_OTHER_UNITS = frozenset(
    {"ml", "mls", "cc", "l", "unit", "units", "iu", "drops", "drop", "puffs", "puff", "%",
     "percent", "kg", "kgs", "lb", "lbs", "cm", "mmol", "times", "time", "hours", "hour", "hrs",
     "hr", "h", "o'clock", "am", "pm"}
    | _PILL_WORDS
    | set(_DURATION_UNITS)
)  # fmt: skip
_TIME_OF_DAY = frozenset(
    {"morning", "mornings", "evening", "evenings", "night", "nights", "bedtime", "lunch",
     "lunchtime", "noon", "midday", "afternoon", "breakfast", "dinner", "supper", "am", "pm",
     "tonight", "nighttime"}
)  # fmt: skip
_N = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty four)"
_PER = r"(?:a|an|per|each|every|/|in a|a single)"
_DAY = r"(?:day|days|d|24 hours|24 ?hrs)"
_WEEK = r"(?:week|wk|wks)"
_MONTH = r"(?:month|mo|mth)"
_TIMES_WORD = (
    r"(?P<times>once|twice|thrice|(?:one|two|three|four|five|six|\d+) ?(?:times|time|x)|x ?\d+)"
)
_TIMES_ALONE = r"(?P<times>once|twice|thrice|(?:one|two|three|four|five|six|\d+) times)"
_Frequency = Callable[[re.Match[str]], float | None]


def _group_number(m: re.Match[str], name: str) -> float | None:
    value = parse_number(m.group(name) or "")
    return value if value else None


def _times(m: re.Match[str]) -> float | None:
    raw = m.group("times").strip()
    if raw.startswith("x"):
        raw = raw[1:].strip()
    word = re.match(r"\d+|[a-z]+", raw)
    if word is None:
        return None
    if word.group().isdigit():
        return float(word.group()) or None
    return _FREQUENCY_WORDS.get(word.group())


def _divided(value: float | None, by: float) -> float | None:
    return None if value is None else value / by


def _every(value: float | None, days: float) -> float | None:
    return None if not value else 1 / (value * days)


_FREQUENCY_WORDS = {"once": 1.0, "twice": 2.0, "thrice": 3.0, "one": 1.0, "two": 2.0,
                    "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0}  # fmt: skip
# Doses a day for each way of saying how often; earlier patterns win over later ones.
_FREQUENCIES: tuple[tuple[re.Pattern[str], _Frequency], ...] = (
    (
        _phrases(rf"(?P<n>{_N}) days? (?:a|per|each|every|in a) {_WEEK}"),
        lambda m: _divided(_group_number(m, "n"), 7),
    ),
    (_phrases(rf"every (?P<n>{_N}) days"), lambda m: _every(_group_number(m, "n"), 1)),
    (_phrases(rf"every (?P<n>{_N}) (?:weeks|wks)"), lambda m: _every(_group_number(m, "n"), 7)),
    (
        _phrases(
            r"every (?:other|second|2nd) day|(?:on )?alternate days|alternating days|eod|qod",
            r"every 48 ?(?:hours|hrs|h)",
        ),
        lambda m: 0.5,
    ),
    (_phrases(rf"{_TIMES_WORD} ?(?:{_PER} ?{_DAY}|daily)"), _times),
    (_phrases(rf"{_TIMES_WORD} ?(?:{_PER} ?{_WEEK}|weekly)"), lambda m: _divided(_times(m), 7)),
    (
        _phrases(rf"{_TIMES_WORD} ?(?:{_PER} ?{_MONTH}|monthly)"),
        lambda m: _divided(_times(m), DAYS_PER_MONTH),
    ),
    (
        _phrases(rf"every (?P<n>{_N}) (?:hours|hrs|hr|h)|q ?(?P<q>\d+) ?h"),
        lambda m: _every(_group_number(m, "n") or _group_number(m, "q"), 1 / 24),
    ),
    (
        _phrases(
            r"(?:in the |every |each )?(?:morning|am)s?,? (?:noon|lunch|midday|afternoon),? "
            r"(?:and|&|\+) (?:in the |at )?(?:evening|night|bedtime|pm)s?|tds|tid|t\.i\.d",
        ),
        lambda m: 3.0,
    ),
    (
        _phrases(
            r"(?:in the |every |each )?(?:morning|am)s? (?:and|&|\+) (?:in the |at |every |each )?"
            r"(?:evening|night|bedtime|pm)s?|bd|bid|b\.i\.d",
        ),
        lambda m: 2.0,
    ),
    (_phrases(r"qds|qid|q\.i\.d"), lambda m: 4.0),
    (
        _phrases(
            rf"{_PER} ?{_DAY}|daily|per day|every day|everyday|each day|od|qd|o\.d|q\.d",
            r"every (?:morning|evening|night)|each (?:morning|evening|night)|nightly|at night",
            r"in the (?:morning|evening)|at bedtime|once",
        ),
        lambda m: 1.0,
    ),
    (_phrases(rf"{_PER} ?{_WEEK}|weekly|every week|each week"), lambda m: 1 / 7),
    (_phrases(rf"{_PER} ?{_MONTH}|monthly|every month|each month"), lambda m: 1 / DAYS_PER_MONTH),
    (_phrases(_TIMES_ALONE), _times),  # "5 mg twice": twice a day
)


def _frequencies(t: str) -> tuple[list[float], list[tuple[int, int]]] | None:
    """Doses a day implied by each frequency phrase, and where they are; None if unreadable."""
    taken: list[tuple[int, int]] = []
    per_day: list[float] = []
    for pattern, rate in _FREQUENCIES:
        for m in pattern.finditer(t):
            if any(m.start() < b and m.end() > a for a, b in taken):
                continue
            value = rate(m)
            if value is None or value <= 0:
                return None
            taken.append(m.span())
            per_day.append(value)
    return per_day, taken


# A dose that changes, or a bound rather than a dose: ask again.
_DOSE_DOUBT = _phrases(
    r"up to|at most|less than|under|more than|over|at least|between|weekdays?|weekends?",
    r"some days|sometimes|varies|vary|varying|depends|depending|taper\w*|reducing|going down",
    r"increasing|going up|or more|or less|max|maximum|minimum",
)


@dataclass(frozen=True)
class _Amount:
    mg: float
    first: int
    stop: int


def parse_daily_dose_mg(text: str) -> float | None:
    """Milligrams a day: "10 mg a day", "5mg twice a day", "20 mg every other day", "1 g",
    "500 mcg", "two 5mg tablets", "7.5" (a bare number is taken as mg a day).

    None if there is no number, two different doses ("5 or 10 mg"), a number in another unit
    ("2 tablets"), a bound or a changing dose ("up to 10 mg", "tapering"), or anything else
    that cannot be read for sure.
    """
    t = re.sub(r"\s*/\s*", " / ", _numeric_text(text))
    if _DOSE_DOUBT.search(t):
        return None
    found = _frequencies(t)
    if found is None:
        return None
    per_day, taken = found
    toks = _tokens(t)
    numbers, odd = _scan_numbers(toks)
    if odd:
        return None

    def in_frequency(num: _Num) -> bool:
        start, end = toks[num.first].start, toks[num.stop - 1].end
        return any(a <= start and end <= b for a, b in taken)

    amounts: list[_Amount] = []
    plain: list[_Num] = []
    for num in numbers:
        if in_frequency(num):
            continue
        k = num.stop
        if k < len(toks) and toks[k].text == "-":
            k += 1
        unit = toks[k].text if k < len(toks) else ""
        if unit in _MASS_UNITS:
            amounts.append(_Amount(num.value * _MASS_UNITS[unit], num.first, k + 1))
        else:
            plain.append(num)
    if not amounts:
        return _bare_dose(toks, plain, per_day)
    dose = _single_amount(toks, amounts)
    if dose is None:
        return None
    amount, first, stop = dose
    count = 1.0
    for num in plain:
        before = num.stop <= first and _is_count_before(toks, num, first)
        if before or (num.first >= stop and _is_count_after(toks, stop, num)):
            count *= num.value
        elif not _is_duration_number(toks, num):
            return None  # "10 mg or 15", "10 mg since 2020"
    if len(set(per_day)) > 1:
        return None
    daily = per_day[0] if per_day else 1.0
    return _clean(amount * count * daily)


def _bare_dose(toks: list[_Tok], plain: list[_Num], per_day: list[float]) -> float | None:
    """ "7.5", "10 daily": one number without a unit is mg a day."""
    if len({n.value for n in plain}) != 1 or len(set(per_day)) > 1:
        return None
    for num in plain:
        k = num.stop
        if k < len(toks) and toks[k].text == "-":
            k += 1
        if k < len(toks) and toks[k].text in _OTHER_UNITS:
            return None  # "2 tablets", "10 ml"
    return _clean(plain[0].value * (per_day[0] if per_day else 1.0))


def _single_amount(toks: list[_Tok], amounts: list[_Amount]) -> tuple[float, int, int] | None:
    """One amount, or the sum of amounts each at its own time of day; None if they differ."""
    if len({a.mg for a in amounts}) == 1 and not _at_own_times(toks, amounts):
        return amounts[0].mg, amounts[0].first, amounts[0].stop
    if 2 <= len(amounts) <= 4 and _at_own_times(toks, amounts):
        return sum(a.mg for a in amounts), amounts[0].first, amounts[-1].stop
    return None


def _at_own_times(toks: list[_Tok], amounts: list[_Amount]) -> bool:
    """ "5 mg in the morning and 2.5 mg at night": every amount names its own time of day."""
    if len(amounts) < 2:
        return False
    for a in amounts:
        following = {tok.text for tok in toks[a.stop : a.stop + 4]}
        if not following & _TIME_OF_DAY:
            return False
    return True


def _is_count_before(toks: list[_Tok], num: _Num, first: int) -> bool:
    """ "two 5mg tablets", "2 x 5 mg", "2 tablets of 5 mg", "half a 10 mg tablet"."""
    between = [tok.text for tok in toks[num.stop : first]]
    return set(between) <= (_TIMES | _PILL_WORDS | {"of", "the", "a"})


def _is_count_after(toks: list[_Tok], stop: int, num: _Num) -> bool:
    """ "5 mg x 2", "5mg tablets x2"."""
    between = [tok.text for tok in toks[stop : num.first]]
    return bool(set(between) & _TIMES) and set(between) <= (_TIMES | _PILL_WORDS | {","})


def _is_duration_number(toks: list[_Tok], num: _Num) -> bool:
    """ "for 3 weeks", "for 2 years": a length of time next to a dose is not part of it."""
    return _unit_at(toks, num.stop, toks[num.stop - 1]) is not None


# ---- medicines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Medicine:
    id: str
    name: str
    drug_class: str
    names: tuple[str, ...]
    prednisone_equivalent: float | None = None


_MEDICINE_KEYS = frozenset({"id", "name", "class", "names", "prednisone_equivalent"})
_NAME_TOKEN = re.compile(r"[^\W_]+")


def _name_key(name: str) -> str:
    """A name as matched: "Cell-Cept", "cell cept" and "cellcept" are all "cellcept"."""
    return "".join(_NAME_TOKEN.findall(normalise(name)))


def load_medicines(path: Path | None = None) -> tuple[Medicine, ...]:
    """The medicines table; ``bot/medicines.yml`` unless ``path`` is given.

    Raises ValueError, naming the entry, if the file is malformed.
    """
    if path is None:
        return _load_default_medicines()
    return _read_medicines(Path(path))


@functools.lru_cache(maxsize=1)
def _load_default_medicines() -> tuple[Medicine, ...]:
    return _read_medicines(MEDICINES_PATH)


def _read_medicines(path: Path) -> tuple[Medicine, ...]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("medicines"), list):
        raise ValueError(f"{path}: expected a mapping with a 'medicines' list")
    medicines: list[Medicine] = []
    owners: dict[str, str] = {}
    for index, raw in enumerate(data["medicines"]):
        medicine = _medicine(raw, f"{path}: medicines[{index}]")
        if medicine.id in {m.id for m in medicines}:
            raise ValueError(f"{path}: medicine '{medicine.id}' is listed twice")
        for name in medicine.names:
            key = _name_key(name)
            owner = owners.setdefault(key, medicine.id)
            if owner != medicine.id:
                raise ValueError(
                    f"{path}: medicine '{medicine.id}': the name '{name}' "
                    f"already belongs to '{owner}'"
                )
        medicines.append(medicine)
    return tuple(medicines)


def _medicine(raw: Any, where: str) -> Medicine:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping with id, name, class and names")
    mid = raw.get("id")
    if not isinstance(mid, str) or not re.fullmatch(r"[a-z0-9_]+", mid):
        raise ValueError(f"{where}: 'id' must be lower-case letters, digits and '_'")
    where = f"{where} ('{mid}')"
    unknown = set(raw) - _MEDICINE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'name' must be a non-empty text")
    drug_class = raw.get("class")
    if drug_class not in DRUG_CLASSES:
        raise ValueError(f"{where}: 'class' must be one of {sorted(DRUG_CLASSES)}")
    names = raw.get("names")
    if not isinstance(names, list) or not names:
        raise ValueError(f"{where}: 'names' must be a non-empty list")
    if not all(isinstance(n, str) and _name_key(n) for n in names):
        raise ValueError(f"{where}: every name must be a non-empty text")
    equivalent = raw.get("prednisone_equivalent")
    if equivalent is not None:
        if isinstance(equivalent, bool) or not isinstance(equivalent, int | float):
            raise ValueError(f"{where}: 'prednisone_equivalent' must be a number or null")
        if equivalent <= 0:
            raise ValueError(f"{where}: 'prednisone_equivalent' must be positive")
        if drug_class != "glucocorticoid":
            raise ValueError(f"{where}: only a glucocorticoid has a 'prednisone_equivalent'")
    unique = tuple(dict.fromkeys(normalise(n) for n in names))
    return Medicine(
        mid,
        name.strip(),
        drug_class,
        unique,
        float(equivalent) if equivalent is not None else None,
    )


# Everyday words that are within one letter of a medicine's name: never read as that medicine.
_COMMON_WORDS = frozenset(
    {
        "asteroid", "asteroids", "steroidal", "nonsteroidal", "immunosuppressed",
        "immunosuppression", "immunosuppress", "motoring", "program", "programs", "programme",
        "programmes", "prograde", "celebrate", "celebrated", "celebrates", "general", "neural",
        "mineral", "medical", "imagine",
    }
)  # fmt: skip
_FUZZY_MIN_LENGTH = 6
_FUZZY_RATIO = 0.85
_FUZZY_MARGIN = 0.03
# A mention within a few words after one of these is a medicine the patient does not take.
_NEGATIONS = frozenset(
    {"no", "not", "never", "without", "stopped", "stop", "quit", "off", "nor", "neither",
     "none", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "haven't", "havent",
     "hasn't", "hasnt", "isn't", "isnt", "wasn't", "wasnt", "aren't", "arent", "won't", "wont",
     "cannot", "can't", "cant", "discontinued", "finished", "ended", "weaned"}
)  # fmt: skip
_CLAUSE_BREAK = re.compile(
    r"[,;.!?:()\[\]/]|\b(?:but|however|only|just|except|also|although|though|now|currently|"
    r"then|instead|whereas|while|plus)\b"
)
_NEGATION_WINDOW = 4


@dataclass(frozen=True)
class _MedicineIndex:
    exact: dict[str, Medicine]
    fuzzy: tuple[tuple[str, Medicine], ...]
    longest: int  # most tokens in one name


@functools.lru_cache(maxsize=8)
def _index(medicines: tuple[Medicine, ...]) -> _MedicineIndex:
    exact: dict[str, Medicine] = {}
    longest = 1
    for medicine in medicines:
        for name in medicine.names:
            key = _name_key(name)
            if key and key not in exact:
                exact[key] = medicine
                longest = max(longest, len(_NAME_TOKEN.findall(normalise(name))))
    fuzzy = tuple(
        (key, m) for key, m in exact.items() if key.isalpha() and len(key) >= _FUZZY_MIN_LENGTH
    )
    return _MedicineIndex(exact, fuzzy, longest + 1)


@dataclass(frozen=True)
class _Mention:
    medicine: Medicine
    start: int  # character offset in the normalised text
    negated: bool


def _fuzzy_medicine(word: str, index: _MedicineIndex) -> Medicine | None:
    """The medicine ``word`` is a one-letter typo of, if exactly one is that close."""
    if len(word) < _FUZZY_MIN_LENGTH or not word.isalpha() or word in _COMMON_WORDS:
        return None
    scores: dict[str, tuple[float, Medicine]] = {}
    matcher = difflib.SequenceMatcher(None, "", word, autojunk=False)
    for key, medicine in index.fuzzy:
        if abs(len(key) - len(word)) > 2:
            continue
        matcher.set_seq1(key)
        if matcher.real_quick_ratio() < _FUZZY_RATIO or matcher.quick_ratio() < _FUZZY_RATIO:
            continue
        score = matcher.ratio()
        if score >= _FUZZY_RATIO and score > scores.get(medicine.id, (0.0, medicine))[0]:
            scores[medicine.id] = (score, medicine)
    ranked = sorted(scores.values(), key=lambda s: s[0], reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0][0] - ranked[1][0] < _FUZZY_MARGIN):
        return None
    return ranked[0][1]


def _is_negated(text: str, start: int) -> bool:
    """ "no steroids", "I don't take prednisone", "stopped cellcept": not taken."""
    prefix = _UNSURE.sub(lambda m: "," + " " * (len(m.group()) - 1), text[:start])
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end() :] if breaks else prefix
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", clause)[-_NEGATION_WINDOW:]
    return any(w in _NEGATIONS for w in words)


def _medicine_matches(text: str, medicines: Sequence[Medicine]) -> list[_Mention]:
    """Every mention of a medicine in normalised ``text``, negated or not, in order."""
    index = _index(tuple(medicines))
    words = [(m.group(), m.start()) for m in _NAME_TOKEN.finditer(text)]
    mentions: list[_Mention] = []
    i = 0
    while i < len(words):
        found: Medicine | None = None
        width = 1
        for k in range(min(index.longest, len(words) - i), 0, -1):
            medicine = index.exact.get("".join(w for w, _ in words[i : i + k]))
            if medicine is not None:
                found, width = medicine, k
                break
        if found is None:
            found = _fuzzy_medicine(words[i][0], index)
        if found is not None:
            start = words[i][1]
            mentions.append(_Mention(found, start, _is_negated(text, start)))
        i += width
    return mentions


def find_medicines(text: str, medicines: Sequence[Medicine] | None = None) -> list[Medicine]:
    """The medicines the patient says they take, in the order named, each once.

    Names are matched as whole words, case-insensitively, with one typo allowed in names of six
    letters or more. A medicine named only in the negative ("no steroids", "I stopped Imuran")
    is left out, so that "I don't take steroids" is not read as taking a steroid.
    """
    table = load_medicines() if medicines is None else medicines
    found: dict[str, Medicine] = {}
    for mention in _medicine_matches(normalise(text), table):
        if not mention.negated:
            found.setdefault(mention.medicine.id, mention.medicine)
    return list(found.values())


# ---- choices and buttons ------------------------------------------------------------------------


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
