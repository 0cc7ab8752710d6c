"""What the bot understands of patients' typed answers, and where it declines to guess."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import (
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    Choice,
    Medicine,
    find_medicines,
    is_none_answer,
    is_unsure,
    load_medicines,
    normalise,
    parse_age,
    parse_button_payload,
    parse_choice,
    parse_daily_dose_mg,
    parse_duration_days,
    parse_number,
    parse_yes_no,
)

# ---- normalising ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Yes  ", "yes"),
        ("I\u2019m   34!!!", "i'm 34"),
        ("\u201cYes\u201d", "yes"),
        ("no thanks 😊", "no thanks"),
        ("7.5", "7.5"),
        ("7.5 mg.", "7.5 mg"),
        ("don\u2019t know", "don't know"),
        ("75+", "75+"),
        ("#2", "#2"),
        ("ＹＥＳ", "yes"),
        ("yes\u200b", "yes"),
    ],
)
def test_replies_are_compared_without_case_spacing_quotes_or_trailing_punctuation(text, expected):
    assert normalise(text) == expected


# ---- yes / no / unsure ------------------------------------------------------------------------

YES = [
    "yes", "Yes", "YES!", "yeah", "yep", "yup", "y", "Y", "sure", "correct", "that's right",
    "That\u2019s right", "I do", "I am", "I have", "yes I have", "yes, I do", "definitely",
    "of course", "absolutely", "👍", "yesss", "right", "I have been", "yes please", "true",
]  # fmt: skip
NO = [
    "no", "No", "NO.", "nope", "nah", "n", "not really", "never", "I don't", "I dont",
    "I haven't", "I have not", "I'm not", "Im not", "no I have not", "no, I haven't", "none",
    "definitely not", "of course not", "absolutely not", "noooo", "👎", "I have never had that",
    "I was never diagnosed", "not anymore", "nothing like that", "no never",
]  # fmt: skip
UNSURE = [
    "not sure", "Not sure", "I'm not sure", "I\u2019m not sure", "don't know", "I dont know",
    "I don't know", "idk", "dunno", "maybe", "no idea", "can't remember", "cannot remember",
    "I forget", "unsure", "possibly", "perhaps", "I think so", "probably", "probably not",
    "I don't think so", "yes and no", "yes, no", "no... yes", "?", "not 100% sure", "🤷",
    "I believe so", "sort of", "not that I know of",
]  # fmt: skip


@pytest.mark.parametrize("text", YES)
def test_a_patient_can_say_yes_in_many_ways(text):
    assert parse_yes_no(text) == "yes"


@pytest.mark.parametrize("text", NO)
def test_a_patient_can_say_no_in_many_ways(text):
    assert parse_yes_no(text) == "no"


@pytest.mark.parametrize("text", UNSURE)
def test_a_hedged_or_unknowing_answer_is_left_for_the_site_to_confirm(text):
    assert parse_yes_no(text) == "unsure"


@pytest.mark.parametrize("label", ["Yes", "No", "Not sure"])
def test_the_button_labels_are_understood(label):
    assert parse_yes_no(label) == {"Yes": "yes", "No": "no", "Not sure": "unsure"}[label]


@pytest.mark.parametrize("text", ["not sure", "I don't know", "no idea", "don't remember"])
def test_a_no_is_never_read_inside_not_sure_or_dont_know(text):
    assert parse_yes_no(text) != "no"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "hello", "what?", "I am a man", "my right knee hurts", "no problem", "ok"],
)
def test_a_reply_that_is_not_a_yes_or_no_is_asked_again(text):
    assert parse_yes_no(text) is None


@pytest.mark.parametrize(
    "text",
    ["not sure", "I'm not sure", "don't know", "idk", "no idea", "can't remember", "maybe",
     "unsure", "?", "??", "I dont know the name", "maybe 3 months"],
)  # fmt: skip
def test_a_patient_can_say_they_do_not_know(text):
    assert is_unsure(text)


@pytest.mark.parametrize("text", ["yes", "no", "3 months", "prednisone", "", "I'm sure", "a?"])
def test_a_plain_answer_is_not_taken_for_not_knowing(text):
    assert not is_unsure(text)


# ---- "none" for medicines ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["none", "None.", "nothing", "no medicines", "I don't take any", "no meds",
     "not taking anything", "no", "I take none", "none at the moment", "nope",
     "I'm not on any medication for my lupus", "no, nothing right now"],
)  # fmt: skip
def test_a_patient_can_say_they_take_no_medicines(text):
    assert is_none_answer(text)


@pytest.mark.parametrize(
    "text",
    ["prednisone", "no steroids", "nothing except vitamins", "no, I take Lyrica", "not sure",
     "I don't know", "only plaquenil", ""],
)  # fmt: skip
def test_naming_or_excepting_something_is_not_none(text):
    assert not is_none_answer(text)


# ---- numbers and ages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("34", 34), ("I'm 34", 34), ("34 years old", 34), ("thirty-four", 34),
        ("thirty four", 34), ("Thirty Four", 34), ("a hundred", 100),
        ("one hundred and five", 105), ("nine hundred ninety nine", 999), ("7.5", 7.5),
        ("7,5", 7.5), ("seven and a half", 7.5), ("two and a half", 2.5), ("half", 0.5),
        ("a dozen", 12), ("1,000", 1000), ("10,000", 10000), ("zero", 0), ("0", 0),
        ("2½", 2.5), ("1 1/2", 1.5), ("seven point five", 7.5), ("a thousand and one", 1001),
        ("34, yes 34", 34),
    ],
)  # fmt: skip
def test_a_patient_can_give_a_number_in_digits_or_words(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    ["34 or 35", "5-10", "a", "an", "-5", "minus five", "hello", "", "in my 30s",
     "12.05.1990", "nineteen ninety", "b12"],
)  # fmt: skip
def test_an_ambiguous_negative_or_missing_number_is_asked_again(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13", 13), ("14", 14), ("75", 75), ("76", 76), ("I'm 34", 34), ("34 years old", 34),
     ("thirty four", 34), ("0", 0), ("120", 120), ("I am 45 yrs", 45)],
)  # fmt: skip
def test_a_patient_can_give_their_age_in_digits(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("thirty-four", 34), ("seventy five", 75), ("fourteen", 14), ("seventy-six", 76)],
)
def test_a_patient_can_give_their_age_in_words(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize(
    "text",
    ["I was born in 1990", "born 1990", "1990", "121", "-3",
     "75+", "over 75", "in my 30s", "6 months", "34 or 35", "about 40"],
)  # fmt: skip
def test_a_birth_year_or_an_estimated_age_is_not_turned_into_an_age(text):
    assert parse_age(text) is None


# ---- durations --------------------------------------------------------------------------------

MONTH, YEAR = DAYS_PER_MONTH, DAYS_PER_YEAR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 months", 2 * MONTH), ("8 weeks", 56), ("7 weeks", 49),
        ("two and a half months", 2.5 * MONTH), ("2.5 months", 2.5 * MONTH),
        ("a month", MONTH), ("a year", YEAR), ("a year and a half", 1.5 * YEAR),
        ("one and a half years", 1.5 * YEAR), ("18 months", 18 * MONTH), ("6 mo", 6 * MONTH),
        ("1 yr", YEAR), ("3 wks", 21), ("10 days", 10), ("a fortnight", 14),
        ("a couple of months", 2 * MONTH), ("over a year", YEAR + 1),
        ("more than a year", YEAR + 1),
        ("about 2 months", 2 * MONTH), ("around 8 weeks", 56), ("nearly 2 months", 2 * MONTH - 1),
        ("almost a year", YEAR - 1), ("1 year and 3 months", YEAR + 3 * MONTH),
        ("1 year 3 months", YEAR + 3 * MONTH), ("half a year", 0.5 * YEAR),
        ("I've been on it for about 18 months now", 18 * MONTH), ("twelve weeks", 84),
        ("3 months ago", 3 * MONTH), ("a 6-month course", 6 * MONTH), ("10d", 10),
    ],
)  # fmt: skip
def test_a_patient_can_say_how_long_in_many_ways(text, expected):
    assert parse_duration_days(text) == pytest.approx(expected)


def test_the_two_month_line_falls_between_seven_and_nine_weeks():
    assert parse_duration_days("7 weeks") < parse_duration_days("8 weeks")
    assert parse_duration_days("8 weeks") < parse_duration_days("2 months")
    assert parse_duration_days("2 months") < parse_duration_days("9 weeks")


@pytest.mark.parametrize(
    "text",
    ["a few weeks", "several months", "some years", "since 2020", "since March", "2", "10",
     "2 or 3 months", "2-3 months", "a week or two", "less than 2 months", "for months",
     "last year", "3 months and 1 year", "forever", "", "ages"],
)  # fmt: skip
def test_a_vague_or_dated_duration_is_asked_again(text):
    assert parse_duration_days(text) is None


# ---- doses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 mg a day", 10), ("10mg daily", 10), ("7.5 mg", 7.5), ("7.4 mg", 7.4),
        ("7.5", 7.5), ("7,5 mg", 7.5), ("ten milligrams", 10), ("5mg twice a day", 10),
        ("5 mg two times a day", 10), ("2.5 mg three times daily", 7.5),
        ("5 mg morning and evening", 10), ("20 mg every other day", 10),
        ("20mg on alternate days", 10), ("70 mg a week", 10), ("70 mg weekly", 10),
        ("1 g", 1000), ("1 gram", 1000), ("500 micrograms", 0.5), ("500 mcg", 0.5),
        ("2 tablets of 5 mg", 10), ("two 5mg tablets", 10), ("2 x 5mg", 10), ("5mg x 2", 10),
        ("10mg/day", 10), ("half a 10mg tablet", 5), ("5 mg in the morning and 2.5 mg at night",
        7.5), ("prednisone 10mg and cellcept", 10), ("10 mg for 3 weeks", 10),
        ("5 mg every 12 hours", 10), ("5mg bd", 10), ("10 daily", 10),
    ],
)  # fmt: skip
def test_a_patient_can_give_their_daily_dose_in_many_ways(text, expected):
    assert parse_daily_dose_mg(text) == pytest.approx(expected)


def test_the_seven_and_a_half_mg_line_is_read_exactly():
    assert parse_daily_dose_mg("7.5 mg") == 7.5
    assert parse_daily_dose_mg("7.4 mg") < 7.5


@pytest.mark.parametrize(
    "text",
    ["", "hello", "5 or 10 mg", "2 tablets", "10 mg prednisone and 200mg plaquenil",
     "10 mg since 2020", "5 ml", "up to 10mg", "10 mg on weekdays", "tapering from 20 mg"],
)  # fmt: skip
def test_a_dose_without_a_number_or_with_two_is_asked_again(text):
    assert parse_daily_dose_mg(text) is None


# ---- medicines --------------------------------------------------------------------------------


def _ids(text: str) -> list[str]:
    return [m.id for m in find_medicines(text)]


def test_several_medicines_are_found_in_the_order_named():
    assert _ids("prednisone 10mg and cellcept and benlysta") == [
        "prednisone",
        "mycophenolate_mofetil",
        "belimumab",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Prednisone", "prednisone"), ("prednisolone", "prednisolone"),
        ("predisone", "prednisone"), ("predinsone", "prednisone"),
        ("mycophenolate", "mycophenolate_mofetil"), ("cellcept", "mycophenolate_mofetil"),
        ("cell cept", "mycophenolate_mofetil"), ("CellCept", "mycophenolate_mofetil"),
        ("celcept", "mycophenolate_mofetil"), ("mycophenolic acid", "mycophenolic_acid"),
        ("Myfortic", "mycophenolic_acid"), ("Medrol", "methylprednisolone"),
        ("Imuran", "azathioprine"), ("methotrexat", "methotrexate"),
        ("Tai\u2019ai", "telitacicept"), ("RC18", "telitacicept"), ("rc-18", "telitacicept"),
        ("HCQ", "hydroxychloroquine"), ("plaquenil", "hydroxychloroquine"),
        ("hydroxychloroquin", "hydroxychloroquine"), ("steroids", "steroid_unspecified"),
        ("an immunosuppressant", "immunosuppressant_unspecified"), ("Lupkynis", "voclosporin"),
        ("ciclosporin", "cyclosporine"), ("Advil", "ibuprofen"), ("Saphnelo", "anifrolumab"),
        ("MabThera", "rituximab"), ("Gazyva", "obinutuzumab"), ("Celebrex", "celecoxib"),
    ],
)  # fmt: skip
def test_a_medicine_is_found_by_generic_or_brand_name_or_with_a_typo(text, expected):
    assert _ids(text) == [expected]


@pytest.mark.parametrize(
    "text",
    ["prednisolone", "an asteroid", "I'm immunosuppressed", "non-steroidal", "a program",
     "I love motoring", "treatment", "nothing", "", "prednisolne"],
)  # fmt: skip
def test_other_words_and_close_calls_are_not_taken_for_a_medicine(text):
    assert "prednisone" not in _ids(text)
    assert _ids(text) in ([], ["prednisolone"])


def test_a_name_is_only_matched_as_a_whole_word():
    assert _ids("prednisolone") == ["prednisolone"]
    assert _ids("steroid cream") == ["steroid_unspecified"]


def test_a_medicine_named_twice_is_listed_once():
    assert _ids("Benlysta, I mean benlysta") == ["belimumab"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't take any steroids", []),
        ("no steroids, only cellcept", ["mycophenolate_mofetil"]),
        ("stopped prednisone, now on benlysta", ["belimumab"]),
        ("not sure but I take prednisone", ["prednisone"]),
    ],
)
def test_a_medicine_the_patient_does_not_take_is_left_out(text, expected):
    assert _ids(text) == expected


def test_the_medicine_table_has_every_class_and_the_steroid_equivalents():
    table = {m.id: m for m in load_medicines()}
    expected = {
        "prednisone": 1.0, "prednisolone": 1.0, "methylprednisolone": 1.25,
        "dexamethasone": 6.67, "hydrocortisone": 0.25, "deflazacort": 0.83,
        "betamethasone": 8.33, "triamcinolone": 1.25,
    }  # fmt: skip
    for mid, factor in expected.items():
        assert table[mid].drug_class == "glucocorticoid"
        assert table[mid].prednisone_equivalent == factor
    assert table["steroid_unspecified"].prednisone_equivalent is None
    classes = {
        "immunosuppressant": ["mycophenolate_mofetil", "mycophenolic_acid", "azathioprine",
                              "methotrexate", "cyclophosphamide", "tacrolimus", "cyclosporine",
                              "leflunomide", "voclosporin", "sirolimus",
                              "immunosuppressant_unspecified"],
        "biologic": ["belimumab", "anifrolumab", "rituximab", "telitacicept", "obinutuzumab"],
        "antimalarial": ["hydroxychloroquine", "chloroquine"],
        "nsaid": ["ibuprofen", "naproxen", "celecoxib"],
    }  # fmt: skip
    for drug_class, ids in classes.items():
        for mid in ids:
            assert table[mid].drug_class == drug_class, mid
            assert table[mid].prednisone_equivalent is None
    assert all(isinstance(m, Medicine) and m.names for m in table.values())
    assert load_medicines() is load_medicines()  # read once


def test_every_name_in_the_table_finds_its_own_medicine():
    for medicine in load_medicines():
        for name in medicine.names:
            assert _ids(name) == [medicine.id], name


GOOD_ENTRY = "  - {id: drug_a, name: drug a, class: other, names: [druga]}\n"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - {name: x, class: other, names: [x]}\n", "'id'"),
        ("  - {id: drug_b, class: other, names: [x]}\n", "drug_b"),
        ("  - {id: drug_b, name: b, class: vitamin, names: [x]}\n", "drug_b"),
        ("  - {id: drug_b, name: b, class: other, names: []}\n", "drug_b"),
        ("  - {id: drug_b, name: b, class: other}\n", "drug_b"),
        ("  - {id: drug_b, name: b, class: other, names: [DrugA]}\n", "drug_b"),
        ("  - {id: drug_b, name: b, class: nsaid, names: [b], prednisone_equivalent: 2}\n",
         "drug_b"),
        ("  - {id: drug_b, name: b, class: other, names: [b], clas: other}\n", "drug_b"),
        ("  - {id: drug_a, name: b, class: other, names: [b]}\n", "drug_a"),
    ],
)  # fmt: skip
def test_a_mistake_in_the_medicine_table_is_refused_naming_the_entry(tmp_path, entry, message):
    path = tmp_path / "medicines.yml"
    path.write_text("medicines:\n" + GOOD_ENTRY + entry, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_medicines(path)


def test_a_medicine_table_from_another_file_can_be_searched(tmp_path: Path):
    path = tmp_path / "medicines.yml"
    path.write_text("medicines:\n" + GOOD_ENTRY, encoding="utf-8")
    table = load_medicines(path)
    assert [m.id for m in find_medicines("I take DrugA", table)] == ["drug_a"]
    assert find_medicines("prednisone", table) == []


# ---- choices and buttons ----------------------------------------------------------------------

SEX = (
    Choice("female", ("female", "woman", "f", "a woman", "i'm a woman")),
    Choice("male", ("male", "man", "m", "a man", "i'm a man")),
    Choice("not_said", ("prefer not to say",)),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Female", "female"), ("woman", "female"), ("F", "female"), ("M", "male"),
        ("I'm a woman", "female"), ("I\u2019m male", "male"), ("prefer not to say", "not_said"),
        ("I'd prefer not to say", "not_said"), ("1", "female"), ("2", "male"),
        ("option 2", "male"), ("#2", "male"), ("number 2", "male"), ("option three", "not_said"),
        ("the second one", "male"), ("no, female", "female"), ("femal", "female"),
    ],
)  # fmt: skip
def test_a_patient_can_pick_a_choice_by_label_synonym_or_number(text, expected):
    assert parse_choice(text, SEX) == expected


@pytest.mark.parametrize("text", ["4", "0", "one", "man or woman", "not a man", "hello", ""])
def test_a_choice_that_fits_none_or_several_options_is_asked_again(text):
    assert parse_choice(text, SEX) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('/answer{"answer": "yes"}', "yes"),
        ('/inform{"answer": "unsure"}', "unsure"),
        ('/inform{"answer":"mycophenolate_mofetil"}', "mycophenolate_mofetil"),
        ('/inform{"answer": 7.5}', "7.5"),
        ('/inform@0.9{"answer": "no"}', "no"),
        ("/inform", None),
        ('/inform{"other": "x"}', None),
        ("/inform{not json}", None),
        ('/inform{"answer": null}', None),
        ("yes", None),
        ('answer{"answer": "yes"}', None),
    ],
)
def test_a_button_payload_gives_its_answer_and_typed_text_does_not(payload, expected):
    assert parse_button_payload(payload) == expected


# ---- properties -------------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _in_words(n: int, *, hyphen: bool = True, use_and: bool = True) -> str:
    """English words for 0..999, written independently of the parser."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (("-" if hyphen else " ") + _ONES[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    head = f"{_ONES[hundreds]} hundred"
    if not rest:
        return head
    return f"{head}{' and' if use_and else ''} {_in_words(rest, hyphen=hyphen)}"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_any_whole_number_in_digits_is_read_back(n):
    assert parse_number(str(n)) == n


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=999), st.booleans(), st.booleans())
def test_any_number_below_a_thousand_in_words_is_read_back(n, hyphen, use_and):
    assert parse_number(_in_words(n, hyphen=hyphen, use_and=use_and)) == n


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_any_number_of_weeks_is_seven_days_each(n):
    assert parse_duration_days(f"{n} weeks") == 7 * n


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_yes_no_always_answers_with_a_known_value(text):
    assert parse_yes_no(text) in ("yes", "no", "unsure", None)


_PHRASE_PARTS = st.sampled_from(
    ["yes", "no", "not", "sure", "a", "half", "and", "2", "7.5", "mg", "weeks", "month", "-",
     "prednisone", "cell", "cept", "twice", "day", "every", "other", "one", "hundred", ",", "?",
     "/inform", '{"answer": "yes"}', "option", "#", "½", "1/2", "x", "thirty", "four", "born"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(_PHRASE_PARTS, max_size=12).map(" ".join)))
def test_no_parser_fails_on_any_text(text):
    normalise(text)
    parse_yes_no(text)
    is_unsure(text)
    is_none_answer(text)
    number = parse_number(text)
    assert number is None or number >= 0
    age = parse_age(text)
    assert age is None or 0 <= age <= 120
    days = parse_duration_days(text)
    assert days is None or days >= 0
    dose = parse_daily_dose_mg(text)
    assert dose is None or dose >= 0
    find_medicines(text)
    parse_choice(text, SEX)
    parse_button_payload(text)
