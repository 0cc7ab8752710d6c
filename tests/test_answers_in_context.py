"""Numbers read in their context: ages with a birthday near, durations with "nearly", doses of 0.

A false knockout is the costliest error the bot can make, so the age limits (14 and 75), the
treatment length (8 weeks, 2 months) and a stopped steroid are tested where a misreading would
rule a patient out.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    parse_age,
    parse_daily_dose_mg,
    parse_duration_days,
    parse_number,
)

MONTH, YEAR = DAYS_PER_MONTH, DAYS_PER_YEAR

# ---- ages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm 75, I turn 76 next month", 75), ("I turned 52 last month", 52),
        ("75 and a half", 75), ("75.5", 75), ("I'll be 40 next week", 39), ("40 next week", 39),
        ("nearly 18", 17), ("almost 18", 17), ("just turned 14", 14),
        ("75 years and 3 months", 75), ("34 years old", 34), ("I am 19, born 2007", 19),
        ("I'm 34 and have had lupus for 10 years", 34), ("turning 40 in March", 39),
        ("I turn 40 today", 40), ("In 2 weeks I'll be 40", 39), ("going on 18", 17),
        ("about to turn 18", 17), ("I'll be 40 this year", 39), ("40yo", 40),
        ("a 75-year-old", 75), ("i am seventy five, i turn seventy six next month", 75),
        ("I'm 40, my birthday is on the 15th of March", 40), ("I was born in 1990 and I'm 36", 36),
        ("I'm 40 years old next week", 39), ("I turned 52 two months ago", 52),
        ("52, turned it in June", 52), ("thirty four and a half", 34),
        ("75 next birthday", 74), ("I'll be 76 at my next birthday", 75),
        ("my son is 14, turning 15 in May", 14), ("I'm 13 going on 14", 13),
        ("I'm 34, my mum's 60", 34), ("my mum is 45 and I'm 15", 15),
        ("I'm 19, diagnosed at 15", 19), ("I was born 40 years ago", 40),
    ],
)  # fmt: skip
def test_an_age_is_read_in_the_context_of_the_birthday_next_to_it(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the lower limit, 14
        ("nearly 14", 13), ("almost 14", 13), ("14 next week", 13), ("I'll be 14 in June", 13),
        ("I'm 13, I turn 14 next week", 13), ("13 and a half", 13),
        ("13 years and 11 months", 13), ("just turned 14", 14), ("I turned 14 yesterday", 14),
        ("fourteen and a half", 14), ("14 years and 2 months", 14), ("14 today", 14),
        # the upper limit, 75
        ("75 and a half", 75), ("75 years and 11 months", 75), ("nearly 76", 75),
        ("76 next month", 75), ("I turn 76 tomorrow", 75), ("I'm turning 76 on Friday", 75),
        ("I'm 75, born 1951", 75), ("seventy five and three quarters", None),
        ("I turned 76 today", 76), ("just turned 76", 76), ("76 years and 1 month", 76),
        ("75 3/4", 75),
    ],
)  # fmt: skip
def test_an_age_at_the_limits_of_the_study_is_read_to_the_year(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "over 70", "in my 30s", "born in 1990", "I was born in 1990", "34 or 35", "70 something",
        "70-something", "75ish", "mid 70s", "about 75", "around 14", "18 months", "14 months old",
        "I'm 14 months", "I'll be 76 next year", "I'll be 40 in 2 years", "I was 75 last month",
        "I'm 40 this year", "I turned 76 last year", "I turned 50 2 years ago",
        "I'm 13, I turn 15 next month", "I'm 19, born 1950", "75+", "under 14", "not yet 14",
        "my 40th birthday is next week", "I'm 75 years and 13 months", "2 years and 18 months",
        "between 70 and 75", "born 12 March 1990", "I think 40", "I'm 40, my daughter is 15",
        "diagnosed at 15", "my mum's 60", "I was born 18 months ago",
    ],
)  # fmt: skip
def test_an_unclear_age_is_asked_again_rather_than_guessed(text):
    assert parse_age(text) is None


def test_a_count_of_months_is_never_read_as_years():
    for months in (6, 12, 14, 18, 24, 75, 100):
        assert parse_age(f"{months} months") is None
        assert parse_age(f"{months} months old") is None
        assert parse_age(f"I'm {months} months") is None


# ---- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nearly 2 months", 2 * MONTH - 1), ("almost 2 months", 2 * MONTH - 1),
        ("not quite 2 months", 2 * MONTH - 1), ("just under 2 months", 2 * MONTH - 1),
        ("slightly less than 2 months", 2 * MONTH - 1), ("a bit under 2 months", 2 * MONTH - 1),
        ("just over 2 months", 2 * MONTH + 1), ("more than 2 months", 2 * MONTH + 1),
        ("a little over 2 months", 2 * MONTH + 1), ("over 2 months", 2 * MONTH + 1),
        ("about 3 months", 3 * MONTH), ("around 3 months", 3 * MONTH),
        ("roughly 3 months", 3 * MONTH), ("I've been on them for nearly 2 months", 2 * MONTH - 1),
        ("nearly 8 weeks", 55), ("just over 8 weeks", 57), ("for the past 2 months", 2 * MONTH),
        ("almost a year and a half", 1.5 * YEAR - 1), ("over the last 2 months", 2 * MONTH),
        ("just about 2 months", 2 * MONTH), ("for over 2 months", 2 * MONTH + 1),
    ],
)  # fmt: skip
def test_nearly_and_just_over_put_a_duration_on_the_right_side_of_the_line(text, expected):
    assert parse_duration_days(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("just started last week", 7), ("started yesterday", 1), ("since last week", 7),
     ("I started it today", 0)],
)  # fmt: skip
def test_a_start_last_week_or_yesterday_is_counted_in_days(text, expected):
    assert parse_duration_days(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("6 weeks, not quite 2 months yet", 42), ("9 weeks (just over 2 months)", 63),
     ("8 weeks so nearly 2 months", 56), ("6 weeks, just over 2 months", None),
     ("2 months, 3 months", None)],
)  # fmt: skip
def test_a_length_said_twice_is_read_when_both_agree(text, expected):
    assert parse_duration_days(text) == expected


def test_nearly_two_months_is_under_two_months_and_over_eight_weeks():
    two_months = parse_duration_days("2 months")
    eight_weeks = parse_duration_days("8 weeks")
    for text in ("nearly 2 months", "almost 2 months", "not quite 2 months", "just under 2 months"):
        assert eight_weeks < parse_duration_days(text) < two_months, text
    for text in ("just over 2 months", "more than 2 months"):
        assert parse_duration_days(text) > two_months, text


@pytest.mark.parametrize(
    "text",
    ["less than 2 months", "under 2 months", "no more than 2 months", "not more than 2 months",
     "up to a year", "not yet 2 months", "nearly 2 months, more than 8 weeks", "since March",
     "since 2020", "since 1 March", "from March 2024", "nearly a few months", "last month",
     "started last week, 3 months on pred"],
)  # fmt: skip
def test_a_bound_or_a_date_is_still_asked_again(text):
    # "less than 2 months" could be a week or 7 weeks: a day under 2 months would be a guess.
    assert parse_duration_days(text) is None


# ---- doses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0", "0 mg", "0mg", "none", "None.", "zero", "nothing now", "nothing", "I stopped it",
     "stopped", "I don't take it any more", "I dont take it anymore", "not taking it now",
     "no longer", "I no longer take it", "I'm off it now", "off steroids",
     "I stopped it 2 weeks ago",
     "stopped prednisone in March", "I stopped in 2023", "tapered off last month",
     "not on it any more", "none at the moment", "nil", "no steroids now"],
)  # fmt: skip
def test_no_dose_or_a_stopped_steroid_is_a_dose_of_zero(text):
    assert parse_daily_dose_mg(text) == 0.0


@pytest.mark.parametrize(
    "text",
    ["I don't know", "not sure", "I didn't stop it", "I never stopped", "no", "no idea",
     "I stopped it but restarted at 5 mg", "stopped the 5 mg, now on 10 mg",
     "I will stop it next week", "I can't remember", "I want to stop it",
     "10 mg but I stopped it", "stopped tapering at 5 mg"],
)  # fmt: skip
def test_a_stopped_dose_is_not_read_where_the_reply_says_more(text):
    assert parse_daily_dose_mg(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 mg, none in the evening", 10), ("10 mg in the morning, nothing at night", 10),
        ("none at night, 5 mg in the morning", 5), ("10 mg nothing else", 10),
        ("prednisone 10 mg", 10), ("10mg of medrol", 10), ("medrol 4mg", 4),
        ("Prednisolone 7.5mg daily", 7.5), ("pred 5 mg in the morning and 2.5 at night", 7.5),
        ("5 in the morning and 2.5 mg at night", 7.5), ("prednisone10mg", 10), ("pred5mg", 5),
        ("1 g in the morning and 0.5 at night", 1500), ("methylpred 4 mg a day", 4),
        ("prednisone 20 mg every other day", 10), ("dexamethasone 1.5mg", 1.5),
        ("prednisolone 5mg, 1 tablet a day", 5),
    ],
)  # fmt: skip
def test_a_dose_is_read_next_to_a_steroid_name_or_a_time_without_a_dose(text, expected):
    assert parse_daily_dose_mg(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("40mg but tapering", 40), ("tapering, currently 12.5", 12.5), ("was 20, now 15 mg", 15),
     ("10mg one day and 5mg the next", 7.5), ("pred 10mg one day, 5mg the next", 7.5),
     ("alternating 10 mg and 5 mg", 7.5), ("10 mg and 5 mg on alternate days", 7.5),
     ("20mg on alternate days", 10), ("20mg, 2 weeks ago it was 30", 20),
     ("20 mg, before that it was 40", 20), ("was 30 2 weeks ago, now 20", 20)],
)  # fmt: skip
def test_the_dose_now_is_read_from_a_changing_or_alternating_dose(text, expected):
    assert parse_daily_dose_mg(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    ["tapering from 20 mg", "tapering to 5 mg", "currently 10 mg, going up to 20 next week",
     "10mg now and 5 mg at night", "20mg, currently tapering"],
)
def test_a_dose_on_its_way_somewhere_else_is_asked_again(text):
    assert parse_daily_dose_mg(text) is None


@pytest.mark.parametrize(
    "text",
    ["10 mg, 2 tablets", "1 tablet of 5 mg in the morning and 2 at night",
     "5 mg tablets, 2 in the morning", "5mg, 2 in the morning and 1 at night"],
)  # fmt: skip
def test_a_bare_number_that_may_count_tablets_is_not_taken_for_milligrams(text):
    assert parse_daily_dose_mg(text) is None


# ---- properties -------------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _words(n: int) -> str:
    """English words for 0..199, written independently of the parser."""
    if n >= 100:
        rest = n - 100
        return "one hundred" + (f" and {_words(rest)}" if rest else "")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


_AGE_FORMS = [
    "{n}", "I'm {n}", "{n} years old", "I am {n} yrs", "I'm {n}, I turn {n1} next month",
    "I turned {n} last month", "{n} and a half", "I'll be {n1} next week", "{n1} next week",
    "nearly {n1}", "almost {n1}", "just turned {n}", "{n} years and 3 months",
    "I am {n}, born {born}",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.integers(min_value=0, max_value=120),
    st.sampled_from(_AGE_FORMS),
    st.booleans(),
)
def test_a_stated_whole_age_in_any_of_the_usual_forms_reads_back(n, form, in_words):
    say = _words if in_words else str
    text = form.format(n=say(n), n1=say(n + 1), born=2026 - n)
    assert parse_age(text) == n


_AWKWARD = st.sampled_from(
    ["²", "①", "❶", "➀", "⁴", "٣", "½", "¾", "⅓", "7" * 5000, "1" * 13, "9" * 400 + " mg",
     "-", "+", "N", "Y", "#", "born", "turned", "next week", "nearly", "and a half", "months",
     "mg", "none", "stopped", "0", "1/2", "x", "/", "\u200b", "\x00", "\U0001f600", "I'm",
     "75", "2007"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(_AWKWARD, max_size=15).map(" ".join)))
def test_the_number_parsers_never_fail_on_any_text(text):
    # "❶" is a digit to str.isdigit() but not to int(): it once made every parser raise.
    age = parse_age(text)
    assert age is None or (0 <= age <= 120 and float(age).is_integer())
    days = parse_duration_days(text)
    assert days is None or days >= 0
    dose = parse_daily_dose_mg(text)
    assert dose is None or dose >= 0
    number = parse_number(text)
    assert number is None or number >= 0


@pytest.mark.parametrize(
    "text",
    ["7" * 5000, "I'm " + "9" * 5000, "1 " * 50_000, "75 " + "a" * 100_000,
     "nearly " * 20_000 + "2 months", "10 mg " * 20_000, "² ① ³" * 10_000],
)
def test_a_huge_reply_is_read_only_from_its_start(text):
    for parse in (parse_age, parse_duration_days, parse_daily_dose_mg, parse_number):
        parse(text)  # returns quickly, whatever it finds


def test_only_the_first_500_characters_are_read():
    padding = "x" * 600
    assert parse_age("34" + " " + padding) == 34
    assert parse_age(padding + " 34") is None
    assert parse_duration_days(padding + " 2 months") is None
    assert parse_daily_dose_mg(padding + " 10 mg") is None


@pytest.mark.parametrize("text", ["❶", "I'm ❶", "❶ mg", "❶ weeks", "➀➁", "²³"])
def test_a_symbol_that_looks_like_a_digit_is_not_read_as_one_and_does_not_fail(text):
    for parse in (parse_age, parse_duration_days, parse_daily_dose_mg, parse_number):
        assert parse(text) in (None, 2.0, 23.0)  # NFKC turns "²³" into "23"
