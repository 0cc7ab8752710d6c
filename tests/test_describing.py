"""Answers that describe instead of saying yes or no, read against JY231's questions."""

from __future__ import annotations

from datetime import date

import pytest

from bot.answers.describing import describes
from bot.protocol import get_protocol
from bot.questions import interpret

PROTOCOL = get_protocol("NCT06675422")


def _read(question_id: str, text: str) -> tuple[object, bool, str | None] | None:
    """(value, unsure, exception) of a reply, or None when the bot would ask again."""
    got = interpret(PROTOCOL.question(question_id), text)
    if got is None:
        return None
    return got.answer.value, got.answer.unsure, got.answer.exception


def _assert_read_as(question: str, text: str, expected: str | None) -> None:
    """``expected`` is the yes/no read; None means the reply is left for the site (unsure)."""
    got = _read(question, text)
    assert got is not None
    if expected is None:
        assert got[1] is True
    else:
        assert got[0] == expected and got[1] is False


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("brain_condition", "parkinson's, my neurologist looks after it"),
        ("brain_condition", "dementia"),
        ("heart_problem", "heart failure"),
        ("breastfeeding", "still nursing my little one"),
        ("live_vaccine", "the MMR"),
        ("transplant", "kidney transplant from my husband"),
    ],
)
def test_naming_the_thing_asked_about_is_a_yes(question: str, text: str) -> None:
    assert _read(question, text) == ("yes", False, None)


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("cancer", "lymphoma, in remission now"),
        ("heart_problem", "a heart attack as a teenager"),
        ("heart_problem", "AF but it's well managed"),
        ("other_autoimmune", "psoriasis, only creams"),
        ("fluid_heart_lungs", "pericarditis, cleared up now"),
    ],
)
def test_a_time_or_a_qualification_leaves_it_to_the_site(question: str, text: str) -> None:
    got = _read(question, text)
    assert got is not None and got[1] is True


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("brain_condition", "my grandma had a stroke"),
        ("cancer", "my sister has breast cancer"),
        ("cancer", "a benign tumour"),
        ("brain_condition", "never had a seizure"),
    ],
)
def test_someone_elses_illness_or_a_denial_is_never_a_yes(question: str, text: str) -> None:
    got = _read(question, text)
    assert got is None or got[0] != "yes"


def test_how_often_is_not_when() -> None:
    assert describes("dialysis twice a week", ["dialysis"]) == "yes"
    assert describes("dialysis for a week in 2019", ["dialysis"]) == "unsure"


def test_only_just_before_the_thing_named_does_not_qualify_it() -> None:
    assert describes("only at night", ["at night"]) == "yes"
    assert describes("sjogrens, only eye drops", ["sjogrens"]) == "unsure"


@pytest.mark.parametrize(
    ("question", "text", "exception"),
    [
        ("cancer", "squamous cell on my back, cut out last year", "non_melanoma_skin_cancer"),
        ("other_autoimmune", "underactive thyroid, on thyroxine", "thyroid_replacement_only"),
        ("brain_condition", "psychosis from the steroids", "caused_by_medicine"),
        ("brain_condition", "seizures when my lupus went to my brain", "caused_by_lupus"),
        ("transplant", "autologous stem cell transplant", "own_cells"),
        ("transplant", "a cornea transplant", "cornea"),
        ("transplant", "skin graft after a burn", "skin_graft"),
        ("heart_problem", "heart failure, class 1, doesn't limit me", "not_limiting"),
        ("active_infection", "trimethoprim at night to stop UTIs", "preventive_antibiotics"),
        ("live_vaccine", "the RSV jab", "not_live"),
    ],
)
def test_the_listings_exceptions_go_to_the_site(question: str, text: str, exception: str) -> None:
    assert _read(question, text) == ("yes", False, exception)


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("cancer", "squamous cell carcinoma of the cervix"),
        ("transplant", "stem cell transplant, donor cells from my sister"),
    ],
)
def test_an_exception_does_not_cover_what_it_excludes(question: str, text: str) -> None:
    assert _read(question, text) == ("yes", False, None)


TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("heart attack in march", "In the last 12 months, have you had a heart attack?", "yes"),
        ("melanoma 3 years ago", "In the last 5 years, have you had cancer?", "yes"),
        ("melanoma 9 years ago", "In the last 5 years, have you had cancer?", "no"),
        ("melanoma in 2021", "In the last 5 years, have you had cancer?", "unsure"),
        ("dialysis back in 2018", "In the last 3 months, have you needed dialysis?", "no"),
        ("a seizure in 1999", "Have you ever had a seizure?", "yes"),
        ("a seizure as a teenager", "Do you have seizures?", "unsure"),
        ("pneumonia 3 weeks ago, still coughing", "an infection in the last 2 weeks?", "yes"),
        ("mmr next week", "In the last 4 weeks, or are you planning to have one?", "yes"),
        ("mmr next week", "In the last 4 weeks, have you had a live vaccine?", "unsure"),
    ],
)
def test_a_time_said_is_read_against_the_questions_window(
    text: str, asked: str, expected: str
) -> None:
    phrases = ["heart attack", "melanoma", "dialysis", "seizure", "pneumonia", "mmr"]
    assert describes(text, phrases, asked, today=TODAY) == expected


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        ("transplant", "only a blood transfusion", "no"),
        ("brain_condition", "just headaches", "no"),
        ("heart_problem", "a heart murmur, that's all", "no"),
        ("brain_condition", "schizophrenia", None),
        ("severe_lung", "copd", None),
        ("severe_lung", "severe copd", "yes"),
    ],
)
def test_only_something_else_is_a_no_and_a_site_question_is_unsure(
    question: str, text: str, expected: str | None
) -> None:
    _assert_read_as(question, text, expected)


def test_just_meaning_recently_is_not_only() -> None:
    assert describes("i just had a baby", ["breastfeeding"]) is None


@pytest.mark.parametrize(
    "text",
    [
        "yes, though they cut my prednisone on monday",
        "my methotrexate went up last week",
        "weaning off the pred slowly",
    ],
)
def test_a_dose_that_changed_is_never_read_as_stable(text: str) -> None:
    got = _read("dose_stable", text)
    assert got is not None and got[0] != "yes"


def test_no_but_just_finished_antibiotics_goes_to_the_site() -> None:
    got = _read("active_infection", "no but i just finished a course of antibiotics")
    assert got is not None and got[1] is True


def test_someone_elses_illness_alone_is_a_no_but_me_too_is_not() -> None:
    assert describes("my dad had a stroke", ["stroke"]) == "no"
    assert describes("my dad had a stroke and so did i", ["stroke"]) != "no"


def test_childhood_is_read_with_the_age_the_patient_gives() -> None:
    asked = "In the last 5 years, have you had cancer?"
    assert describes("leukaemia as a child, i'm 40 now", ["leukaemia"], asked, TODAY) == "no"
    assert describes("leukaemia as a child", ["leukaemia"], asked, TODAY) == "unsure"
    assert describes("leukaemia years ago", ["leukaemia"], "Have you ever had cancer?") == "yes"


def test_a_month_ago_is_when_not_how_often() -> None:
    asked = "an infection now, or in the last 2 weeks?"
    assert describes("a uti a month ago", ["uti"], asked, TODAY) == "no"


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        ("breastfeeding", "she's bottle fed", "no"),
        ("could_be_pregnant", "hysterectomy in 2015", "no"),
        ("substance_use", "only socially, a glass of wine", "no"),
        ("breastfeeding", "formula fed but i still breastfeed at night", None),
    ],
)
def test_words_that_answer_no_are_a_no_unless_the_reply_also_says_yes(
    question: str, text: str, expected: str | None
) -> None:
    _assert_read_as(question, text, expected)
