"""Daily doses, in milligrams."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.answers.durations import _DURATION_UNITS, DAYS_PER_MONTH, _unit_at
from bot.answers.numbers import (
    MAX_CHARS,
    _clean,
    _Num,
    _numeric_text,
    _scan_numbers,
    _Tok,
    _tokens,
    parse_number,
)
from bot.answers.text import _phrases
from bot.answers.words import canonical, word_list

# The words are in bot/answers/words/en.yml.
_MASS_UNITS = {
    **dict.fromkeys(word_list("dose_mg_units"), 1.0),
    **dict.fromkeys(word_list("dose_g_units"), 1000.0),
    **dict.fromkeys(word_list("dose_mcg_units"), 0.001),
}
_PILL_WORDS = frozenset(word_list("dose_pill_words"))
_TIMES = frozenset({"x", "×", "*"})
# A number followed by one of these is not a dose in mg.
_OTHER_UNITS = frozenset(word_list("dose_other_units")) | _PILL_WORDS | set(_DURATION_UNITS)
_TIME_OF_DAY = frozenset(word_list("dose_times_of_day"))
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


# "None", "I stopped it", "not taking it now": a dose of 0 (the site then confirms).
_STOPPED = _phrases(
    r"none|nothing(?! else)|nil|zero|no dose|no steroids?|no pred\w*|no longer|no more",
    r"not any ?more|not now|stopped|stop (?:it|them|taking)|quit|discontinued|came off|come off",
    r"(?:i'?m |i am |now |been )?off (?:it|them|steroids?|pred\w*|the steroids?|medrol|all)",
    r"(?:tapered|weaned) (?:it |them )?off",
    r"(?:don'?t|do not|dont|not|no longer|isn'?t|am not|i'?m not) (?:take|taking|on)"
    r"(?: (?:it|them|any|anything|steroids?|pred\w*|that|this))?",
)
# ...unless the reply says the opposite, or that the patient does not know.
_NOT_STOPPED = _phrases(
    r"(?:didn'?t|did not|haven'?t|have not|never|not|won'?t|can'?t|cannot|couldn'?t) "
    r"(?:stop|stopped|quit|come off|came off)",
    r"restart\w*|started again|back on|again|know|sure|remember|idea|until|till|will stop",
    r"going to stop|plan\w*|want\w* to stop|should|supposed|tomorrow|next",
)
# "10 mg, none in the evening": no dose at one time of day, not a dose of 0.
_NONE_AT_TIME = _phrases(
    r"(?:none|nothing|no dose|zero|0 ?mg|0)(?: mg)? (?:in the |at |at the |on the |for )?"
    r"(?:morning|mornings|evening|evenings|night|nights|bedtime|lunch|lunchtime|noon|midday"
    r"|afternoon|breakfast|dinner|supper|am|pm|nighttime|weekends?)",
)
# "prednisone10mg", "pred5mg": a name typed against its dose.
_NAME_GLUED_TO_DOSE = re.compile(r"(?<=[^\W\d_])(?=\d+(?:[.,]\d+)?\s*(?:mg|mcg|ug|μg)(?![a-z]))")


@dataclass(frozen=True)
class _Amount:
    mg: float
    first: int
    stop: int
    unit_mg: float = 1.0  # milligrams in one of the unit the patient wrote


def parse_daily_dose_mg(text: str) -> float | None:
    """Milligrams a day: "10 mg a day", "5mg twice a day", "20 mg every other day", "1 g",
    "500 mcg", "two 5mg tablets", "7.5" (a bare number is taken as mg a day).

    A steroid named next to the dose does not get in the way ("prednisone 10 mg", "medrol
    4mg", "pred 5 mg in the morning and 2.5 at night": 7.5). A dose of 0 is an answer too:
    "0", "none", "I stopped it", "not taking it now", "no longer" are 0.0; but "none in the
    evening" next to a dose is no dose at that time, and a stopped medicine next to a dose
    ("stopped the 5 mg, now on 10") is asked again.

    None if there is no number, two different doses ("5 or 10 mg"), a number in another unit
    ("2 tablets"), a bound or a changing dose ("up to 10 mg", "tapering"), or anything else
    that cannot be read for sure. Only the first ``MAX_CHARS`` characters are read.
    """
    t = _NAME_GLUED_TO_DOSE.sub(" ", _numeric_text(canonical(text[:MAX_CHARS], "dose")))
    t = re.sub(r"\s*/\s*", " / ", t)
    t = _NONE_AT_TIME.sub(" ", t) if _has_dose(t) else t
    if _STOPPED.search(t):
        return _stopped_dose(t)
    current = _current_part(t)
    if current is not None:
        return current
    alternating = _alternating_days(t)
    if alternating is not None:
        return alternating
    return _read_dose(t)


# "tapering, currently 12.5", "was 20, now 15 mg": the dose now is the last thing said.
_CURRENTLY = re.compile(
    r"^(?:.*[,;.]\s*|.*\bbut\s+)?(?:currently|at the moment|right now|at present|now|today)"
    r"(?:\s+(?:on|at|taking|i'?m on|i take|it'?s|down to|i'?m at))?\s+(?P<dose>(?!and\b)[^,;]+)$"
)
# "40mg but tapering": the dose now, coming down.
_TAPER_AFTER = re.compile(
    r"^(?P<dose>[^,;]+?)[\s,;]+(?:but\s+|and\s+)?(?:i'?m\s+|it'?s\s+|we'?re\s+)?"
    r"(?:tapering|reducing|weaning|going down|coming down|being tapered|being reduced)"
    r"(?:\s+(?:it|off|down|slowly|now))*$"
)


# "20mg, 2 weeks ago it was 30": the dose now, then what it was.
_WAS_AFTER = re.compile(
    r"^(?P<dose>[^,;]+?)[\s,;]+(?:but\s+|and\s+)?"
    r"(?:(?:a|one|two|three|four|\d+)\s+(?:days?|weeks?|months?)\s+ago|last\s+(?:week|month)"
    r"|before(?:\s+that)?|previously|until recently)\s*,?\s*"
    r"(?:it\s+was|i\s+was\s+on|i\s+was\s+taking|i\s+took|was)\s+[^,;]+$"
)


def _current_part(t: str) -> float | None:
    """The dose now, where the reply also says how it changes: "tapering, currently 12.5"."""
    for pattern in (_CURRENTLY, _TAPER_AFTER, _WAS_AFTER):
        m = pattern.match(t)
        if m:
            return _read_dose(m.group("dose").strip())
    return None


_AMOUNT_TEXT = r"\d+(?:\.\d+)?\s*(?:mg|mgs|milligrams?|g|mcg)"
_NAME_WORDS = r"(?:[^\W\d_]+\s+){0,3}?"
# "10mg one day and 5mg the next", "alternating 10 mg and 5 mg": the mean of the two.
_ALTERNATING = (
    re.compile(
        rf"^{_NAME_WORDS}(?P<a>{_AMOUNT_TEXT})\s+(?:on\s+)?one\s+day,?\s+(?:and\s+|then\s+)?"
        rf"(?P<b>{_AMOUNT_TEXT})\s+(?:the\s+)?(?:next|other|following)(?:\s+(?:day|one))?$"
    ),
    re.compile(
        rf"^{_NAME_WORDS}(?:alternating|alternate|alternating between|alternate days of)\s+"
        rf"(?P<a>{_AMOUNT_TEXT})\s+(?:and|with|/|&)\s+(?P<b>{_AMOUNT_TEXT})"
        r"(?:\s+(?:every other day|on alternate days|each day|daily))?$"
    ),
    re.compile(
        rf"^{_NAME_WORDS}(?P<a>{_AMOUNT_TEXT})\s+(?:and|/|&)\s+(?P<b>{_AMOUNT_TEXT})\s+"
        r"(?:on\s+)?(?:alternate|alternating)\s+days$"
    ),
)


def _alternating_days(t: str) -> float | None:
    for pattern in _ALTERNATING:
        m = pattern.match(t)
        if m:
            a, b = _read_dose(m.group("a")), _read_dose(m.group("b"))
            return None if a is None or b is None else _clean((a + b) / 2)
    return None


def _has_dose(t: str) -> bool:
    """Whether the text has a number other than 0 that is not a length of time or a year."""
    toks = _tokens(t)
    numbers, _ = _scan_numbers(toks)
    return any(
        num.value
        and not _is_duration_number(toks, num)
        and not _is_year(toks[num.first].text, num.value)
        for num in numbers
    )


def _is_year(token: str, value: float) -> bool:
    return len(token) == 4 and value.is_integer() and 1900 <= value <= 2100


def _stopped_dose(t: str) -> float | None:
    """0.0 for "I stopped it", "none", "not taking it now"; None if the reply says more."""
    if _NOT_STOPPED.search(t):
        return None  # "I didn't stop it", "I don't know"
    rest = _STOPPED.sub(" ", t)
    if _has_dose(rest) or _DOSE_DOUBT.search(rest):
        return None  # "stopped the 5 mg, now 10 mg": ask again
    return 0.0


def _read_dose(t: str) -> float | None:
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
            factor = _MASS_UNITS[unit]
            amounts.append(_Amount(num.value * factor, num.first, k + 1, factor))
        else:
            plain.append(num)
    if not amounts:
        return _bare_dose(toks, plain, per_day)
    amounts, plain = _carry_unit(toks, amounts, plain)
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


def _carry_unit(
    toks: list[_Tok], amounts: list[_Amount], plain: list[_Num]
) -> tuple[list[_Amount], list[_Num]]:
    """ "5 mg in the morning and 2.5 at night": the 2.5 is in mg too.

    A number without a unit takes the unit of the nearest amount when every amount, and the
    number, names its own time of day.
    """
    if any(tok.text in _PILL_WORDS for tok in toks) or not all(
        _names_own_time(toks, a.stop) for a in amounts
    ):
        return amounts, plain  # "1 tablet of 5 mg in the morning and 2 at night": 2 tablets?
    carried: list[_Amount] = []
    rest: list[_Num] = []
    for num in plain:
        after = toks[num.stop].text if num.stop < len(toks) else ""
        if after in _OTHER_UNITS or after in _TIMES or not _names_own_time(toks, num.stop):
            rest.append(num)
            continue
        nearest = min(amounts, key=lambda a: min(abs(a.first - num.stop), abs(num.first - a.stop)))
        carried.append(_Amount(num.value * nearest.unit_mg, num.first, num.stop, nearest.unit_mg))
    return sorted(amounts + carried, key=lambda a: a.first), rest


def _at_own_times(toks: list[_Tok], amounts: list[_Amount]) -> bool:
    """ "5 mg in the morning and 2.5 mg at night": every amount names its own time of day."""
    return len(amounts) >= 2 and all(_names_own_time(toks, a.stop) for a in amounts)


def _names_own_time(toks: list[_Tok], stop: int) -> bool:
    """A time of day in the few words after a dose: "5 mg in the morning"."""
    return bool({tok.text for tok in toks[stop : stop + 4]} & _TIME_OF_DAY)


def _is_count_before(toks: list[_Tok], num: _Num, first: int) -> bool:
    """ "two 5mg tablets", "2 x 5 mg", "2 tablets of 5 mg", "half a 10 mg tablet"."""
    between = [tok.text for tok in toks[num.stop : first]]
    return set(between) <= (_TIMES | _PILL_WORDS | {"of", "the", "a"})


def _is_count_after(toks: list[_Tok], stop: int, num: _Num) -> bool:
    """ "5 mg x 2", "5mg tablets x2", "5mg, 1 tablet a day".

    Only one tablet after the dose is a count for sure: "10 mg, 2 tablets" may be 2 x 5 mg.
    """
    between = {tok.text for tok in toks[stop : num.first]}
    after = toks[num.stop].text if num.stop < len(toks) else ""
    if num.value == 1 and after in _PILL_WORDS and between <= {","}:
        return True
    return bool(between & _TIMES) and between <= (_TIMES | _PILL_WORDS | {","})


def _is_duration_number(toks: list[_Tok], num: _Num) -> bool:
    """ "for 3 weeks", "for 2 years": a length of time next to a dose is not part of it."""
    return _unit_at(toks, num.stop, toks[num.stop - 1]) is not None
