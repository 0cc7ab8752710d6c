"""Yes/no replies that a plain word list misreads: a "no" that means nothing changed, a refusal,
a "yes" about something outside the question's time window, a test result, a guardian's word."""

from __future__ import annotations

import pytest

from bot.answers import parse_yes_no


@pytest.mark.parametrize(
    "text",
    ["nothing changed", "no changes", "no they've been the same", "unchanged", "same as always"],
)
def test_nothing_changed_is_never_read_as_a_no(text: str) -> None:
    # "Have your doses stayed the same?" - "nothing changed": a "no" here would rule a patient out.
    assert parse_yes_no(text) == "unsure"


@pytest.mark.parametrize("text", ["yes, no changes", "yes stable for 6 months, the same dose"])
def test_a_yes_next_to_nothing_changed_is_a_yes(text: str) -> None:
    assert parse_yes_no(text) == "yes"


@pytest.mark.parametrize(
    "text",
    [
        "yes but that was 10 years ago",
        "yes but it was a long time ago",
        "yes, but that was back in 2015",
        "yes but it was about six months ago",
    ],
)
def test_a_yes_about_long_ago_is_left_for_the_site(text: str) -> None:
    assert parse_yes_no(text) == "unsure"


def test_a_yes_but_naming_what_it_was_is_still_a_yes_for_the_exception_reader() -> None:
    # The question's exceptions ("DCIS", "basal cell") are read after this; unsure would hide them.
    assert parse_yes_no("yes but it was DCIS 2 years ago") == "yes"


@pytest.mark.parametrize(
    "text",
    [
        "i'd rather not say",
        "prefer not to say",
        "i don't want to say",
        "not officially, they think it's lupus",
        "she hasn't decided yet",
        "i haven't asked her yet",
        "maybe, she's thinking about it",
        "there's a small chance",
    ],
)
def test_refusals_and_undecided_answers_are_not_a_no(text: str) -> None:
    assert parse_yes_no(text) == "unsure"


@pytest.mark.parametrize(
    "text", ["yh", "positive", "ana+", "hiv+", "always", "they agree", "she says ok"]
)
def test_short_and_result_style_yeses(text: str) -> None:
    assert parse_yes_no(text) == "yes"


@pytest.mark.parametrize("text", ["neg", "NKDA", "no chance", "she doesn't agree", "he said no"])
def test_short_and_result_style_noes(text: str) -> None:
    assert parse_yes_no(text) == "no"


def test_a_guardian_who_is_there_but_speaks_no_english_is_still_a_yes() -> None:
    assert parse_yes_no("yes but she doesn't speak english") == "yes"


def test_not_positive_is_not_sure() -> None:
    assert parse_yes_no("not positive") == "unsure"


def test_tired_all_the_time_is_not_a_yes() -> None:
    # "Do you have lupus symptoms such as...?" - fatigue is not one of them: the site decides.
    assert parse_yes_no("just tired all the time") != "yes"
    assert parse_yes_no("always") == "yes"
