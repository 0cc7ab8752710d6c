"""Property-based fuzzing of every answer parser and of ``interpret`` for every question.

Whatever a patient types (any Unicode, digits of every script, superscripts, circled numbers,
Chinese numerals, full-width digits, RTL marks, emoji, control characters, 5000-digit numbers,
a whole page of text), each parser returns a value of its declared type within a time bound,
and ``interpret`` returns an Interpretation or None (asks again): never an exception, which would
leave the patient without a reply.

Every test here is run with thousands of generated inputs in all (``FUZZ_EXAMPLES`` per test,
default 400); ``HYPOTHESIS_PROFILE=fuzz-long`` multiplies it by ten.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot import answers
from bot.answers import Choice, Medicine, MedicineReading
from bot.engine import Answer
from bot.protocol import Protocol, Question, all_protocols
from bot.questions import MAX_ANSWER_CHARS, Interpretation, interpret

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
settings.register_profile(
    "fuzz", max_examples=EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz-long", max_examples=EXAMPLES * 10, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz"))
if FUZZ.max_examples < 100:  # a profile from elsewhere: still fuzz
    FUZZ = settings.get_profile("fuzz")

# The most CPU time any single parse may take, for a reply of up to MAX_ANSWER_CHARS characters
# (interpret: of any length): a patient gets their reply within 2 s, with Rasa's work on top.
# A guard against runaway parses (a regular expression that backtracks without end takes
# seconds to minutes), not a speed measurement (bench/engine_speed.py is that): the slowest
# inputs here take up to about 0.3 s of CPU, and 0.55 s on a machine busy with other work.
PARSE_SECONDS = 1.5

KNOWN_HARD = [
    "²", "①", "⑳", "2²", "½", "⅔ mg", "Ⅻ", "٣٤", "३४", "௰", "３４", "１０ｍｇ", "三十四", "十",
    "两个月", "一千万亿", "廿", "〇", "9" * 5000, "1" * 1000 + " months", "10 mg " + "9" * 999,
    "1e309", "-0", "NaN", "inf mg", "0x1F", "1,000,000,000,000,000,000 years",
    "\u200f34\u200e", "\u202eon\u202c", "\u2066yes\u2069", "\x00", "\x00yes\x07", "\r\n\t",
    "😀", "👍🏽", "🇬🇧", "y\u0301es", "ｙｅｓ", "ＮＯ", "İ", "ß" * 50, "\ufeffno", "\u00a0no\u00a0",
    "/inform{\"answer\": \"yes\"}", "/inform{\"answer\": ", "/inform{}", "/inform{\"answer\": 3}",
    "{{", "%s %d", "\\", "'; DROP TABLE answers; --", "<script>alert(1)</script>",
    "mg" * 500, "a month " * 150, "twice " * 200, "not " * 250, "no yes " * 150,
]

# Words the parsers look for, so generated replies reach deep into their branches.
VOCAB = [
    "yes", "no", "not", "sure", "maybe", "never", "don't", "i", "my", "a", "an", "and", "or",
    "but", "only", "just", "about", "over", "more than", "at least", "half", "and a half",
    "mg", "milligrams", "g", "mcg", "tablet", "tablets", "twice", "once", "a day", "daily",
    "every other day", "per week", "weekly", "bd", "tds", "day", "days", "week", "weeks",
    "month", "months", "year", "years", "ago", "since", "last", "next", "old", "age", "turn",
    "prednisone", "pred", "cellcept", "mmf", "benlysta", "dexamethasone", "medrol", "none",
    "nothing", "stopped", "used to", "tapering", "increased", "my mum", "my dad", "lupus",
    "stroke", "cancer", "asthma", "pregnant", "covid", "one", "two", "three", "ten", "twelve",
    "twenty", "hundred", "thousand", "million", "first", "second", "1", "2", "3", "7.5", "10",
    "2019", "1/2", "½", "²", "①", "三", "十", "个月", "年", "毫克", "每天", "泼尼松", "是", "不",
    "不是", "没有", "??", "!", ".", ",", "-", "+", "/", "(", ")", "\u200f", "😀", "\x00", "３",
]

scripts_digits = st.characters(categories=("Nd", "No", "Nl"))
anything = st.characters(codec=None, exclude_categories=("Cs",))
word = st.one_of(
    st.sampled_from(VOCAB),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(scripts_digits, min_size=1, max_size=6),
    st.text(anything, min_size=1, max_size=8),
)
separator = st.sampled_from([" ", "", ",", ", ", "\n", "\t", "-", "/", "\u3000", "\u200b"])


@st.composite
def phrases(draw: st.DrawFn, max_words: int = 25) -> str:
    words = draw(st.lists(word, min_size=0, max_size=max_words))
    out = ""
    for w in words:
        out += draw(separator) + w
    return out


replies = st.one_of(
    phrases(),
    st.text(anything, max_size=200),
    st.text(scripts_digits, min_size=1, max_size=40),
    st.sampled_from(KNOWN_HARD),
    st.builds(lambda a, b: a + b, st.sampled_from(KNOWN_HARD), phrases(8)),
)
# What reaches a parser: the actions cut every reply to its first MAX_ANSWER_CHARS characters.
capped_replies = replies.map(lambda s: s[:MAX_ANSWER_CHARS])
long_replies = st.one_of(
    st.text(anything, min_size=MAX_ANSWER_CHARS, max_size=5 * MAX_ANSWER_CHARS),
    phrases(400),
    st.integers(min_value=1, max_value=5000).map(lambda n: "9" * n),
)


SLOWEST: dict[str, float] = {}


def timed(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, which must take less than PARSE_SECONDS of this process's CPU time (not the
    wall clock, which other processes on a shared machine stretch)."""
    start = time.process_time()
    result = fn(*args)
    elapsed = time.process_time() - start
    SLOWEST[fn.__name__] = max(SLOWEST.get(fn.__name__, 0.0), elapsed)
    assert elapsed < PARSE_SECONDS, f"{fn.__name__} took {elapsed:.2f} s of CPU"
    return result


def is_number(value: object) -> bool:
    return value is None or (isinstance(value, float | int) and not isinstance(value, bool))


# ---- every parser -----------------------------------------------------------------------------


@FUZZ
@given(capped_replies)
@example("²")
@example("①")
@example("9" * 1000)
def test_numbers_are_read_or_left_alone(text: str) -> None:
    assert is_number(timed(answers.parse_number, text))
    age = timed(answers.parse_age, text)
    assert is_number(age)
    assert age is None or 0 <= age <= 120


@FUZZ
@given(capped_replies)
@example("一千万亿年")
def test_durations_are_read_or_left_alone(text: str) -> None:
    days = timed(answers.parse_duration_days, text)
    assert is_number(days)
    assert days is None or days >= 0


@FUZZ
@given(capped_replies)
@example("10 mg " + "9" * 994)
def test_doses_are_read_or_left_alone(text: str) -> None:
    mg = timed(answers.parse_daily_dose_mg, text)
    assert is_number(mg)
    assert mg is None or mg >= 0


@FUZZ
@given(capped_replies)
@example("²")
@example("①")
def test_yes_no_is_read_or_left_alone(text: str) -> None:
    assert timed(answers.parse_yes_no, text) in (None, "yes", "no", "unsure")
    assert isinstance(timed(answers.is_unsure, text), bool)
    assert isinstance(timed(answers.is_none_answer, text), bool)
    assert isinstance(timed(answers.normalise, text), str)


CHOICES = [
    Choice(id="female", labels=("Female", "woman", "f")),
    Choice(id="male", labels=("Male", "man", "m")),
    Choice(id="prefer_not_to_say", labels=("Prefer not to say", "rather not")),
]


@FUZZ
@given(capped_replies)
@example('/inform{"answer": "female"')
def test_choices_and_button_payloads_are_read_or_left_alone(text: str) -> None:
    assert timed(answers.parse_choice, text, CHOICES) in (None, "female", "male",
                                                          "prefer_not_to_say")
    payload = timed(answers.parse_button_payload, text)
    assert payload is None or isinstance(payload, str)


@FUZZ
@given(capped_replies)
@example("①②③ mg prednisone")
@example("泼尼松" * 300)
def test_medicines_are_read_or_left_alone(text: str) -> None:
    reading = timed(answers.read_medicines, text)
    assert isinstance(reading, MedicineReading)
    assert all(isinstance(m, Medicine) for m in timed(answers.find_medicines, text))
    steroid = timed(answers.steroid_dose_in, text)
    assert steroid is None or (isinstance(steroid[0], Medicine) and is_number(steroid[1]))


DESCRIBED = [p for q in all_protocols()[0].questions for p in q.described_by("en")][:60]


@FUZZ
@given(capped_replies, st.lists(st.sampled_from(DESCRIBED or ["lupus"]), min_size=1, max_size=6),
       st.sampled_from([None, "in the last 12 months?", "ever?", "in the last 2 weeks?"]))
def test_describing_is_read_or_left_alone(text: str, described: list[str], asked: str | None):
    assert timed(answers.describes, text, described, asked) in (None, "yes", "no", "unsure")
    assert isinstance(timed(answers.mentions, answers.normalise(text), described[0]), bool)


# ---- every question of every protocol, in every language it has ----------------------------


def languages(protocol: Protocol) -> list[str]:
    found = {"en"}
    for question in protocol.questions:
        found |= set(question.text.by_language)
    return sorted(found)


CASES = [(p, q, lang) for p in all_protocols() for lang in languages(p) for q in p.questions]
CONTEXTS = st.sampled_from([
    {},
    {"lupus_meds": Answer("lupus_meds", ["prednisone", "mycophenolate_mofetil"])},
    {"lupus_meds": Answer("lupus_meds", ["dexamethasone"])},
    {"lupus_meds": Answer("lupus_meds", ["dexamethasone", "prednisone"])},
    {"lupus_meds": Answer.not_sure("lupus_meds")},
])
# Cases are drawn by their number: a failing example then names it briefly.
CASE_NUMBERS = st.integers(min_value=0, max_value=len(CASES) - 1)


def case_id(case: tuple[Protocol, Question, str]) -> str:
    return f"{case[0].id}-{case[1].id}-{case[2]}"


def check_interpretation(question: Question, result: object) -> None:
    assert result is None or isinstance(result, Interpretation)
    if result is not None:
        assert result.answer.question_id == question.id
        assert isinstance(result.understood, str)


@settings(FUZZ, max_examples=FUZZ.max_examples * 4)
@given(CASE_NUMBERS, replies, CONTEXTS)
@example(0, "²", {})
def test_every_question_interprets_any_reply(case: int, text: str, context) -> None:
    protocol, question, language = CASES[case]
    result = timed(interpret, question, text, language, context)
    check_interpretation(question, result)


@settings(FUZZ, max_examples=max(50, FUZZ.max_examples // 4))
@given(CASE_NUMBERS, long_replies)
def test_every_question_answers_a_huge_reply_in_time(case: int, text: str) -> None:
    protocol, question, language = CASES[case]
    check_interpretation(question, timed(interpret, question, text, language, {}))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_question_survives_the_known_hard_replies(case) -> None:
    protocol, question, language = case
    for text in KNOWN_HARD:
        check_interpretation(question, timed(interpret, question, text, language, {}))


def test_report_the_slowest_parse() -> None:
    """Last in the file: the slowest CPU time each parser took over all the inputs above."""
    if not SLOWEST:
        pytest.skip("run with the fuzz tests above")
    width = max(map(len, SLOWEST))
    lines = [f"{name:<{width}}  {s * 1000:7.1f} ms" for name, s in sorted(SLOWEST.items())]
    print("\nslowest CPU time per parse:\n" + "\n".join(lines))
    assert max(SLOWEST.values()) < PARSE_SECONDS

