"""Answers typed in Chinese are read as a coordinator would, from words files, not code.

Chinese has no spaces: each test here is a reply where reading one word inside another would turn
a patient away or let a wrong answer through ("没有" read as "有", "不是" as "是", "但是" as "是").
The corpus (tests/corpus/answers_zh_*.yml, run by test_answer_corpus.py) measures the whole; these
pin the rules one by one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answers import (
    is_none_answer,
    is_unsure,
    parse_age,
    parse_daily_dose_mg,
    parse_duration_days,
    parse_yes_no,
    read_medicines,
    words,
)
from bot.answers.words import WordsError, canonical, load_lexicon, numeral_value
from bot.protocol import get_protocol
from bot.questions import interpret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是的", "yes"), ("是", "yes"), ("对", "yes"), ("对的", "yes"), ("有", "yes"),
        ("有的", "yes"), ("嗯", "yes"), ("嗯嗯", "yes"), ("没错", "yes"), ("在", "yes"),
        ("是滴", "yes"), ("有过", "yes"), ("好的", "yes"), ("没毛病", "yes"), ("可不是嘛", "yes"),
        ("没意见", "yes"), ("不反对", "yes"),
        ("没有", "no"), ("没", "no"), ("不是", "no"), ("无", "no"), ("否", "no"), ("不", "no"),
        ("没有过", "no"), ("从来没有", "no"), ("从没", "no"), ("木有", "no"), ("没得", "no"),
        ("莫得", "no"), ("都没有", "no"), ("不对", "no"), ("没有哈", "no"), ("无。", "no"),
        ("不确定", "unsure"), ("说不好", "unsure"), ("不清楚", "unsure"), ("不知道", "unsure"),
        ("记不清", "unsure"), ("记不清了", "unsure"), ("忘了", "unsure"), ("可能", "unsure"),
        ("好像有", "unsure"), ("应该没有", "unsure"), ("有没有", "unsure"), ("？？", "unsure"),
        ("以前有过，现在没有", "unsure"), ("有，但是已经控制住了", "unsure"),
    ],
)  # fmt: skip
def test_the_many_forms_of_yes_no_and_not_sure_in_chinese(text, expected):
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "没有",  # contains 有
        "不是",  # contains 是
        "没有过",
        "从来没有过",
        "并没有",
    ],
)
def test_a_chinese_no_is_never_read_as_the_yes_inside_it(text):
    assert parse_yes_no(text) == "no"


@pytest.mark.parametrize(
    "text",
    [
        "甲状腺有结节",  # "has a nodule": for the site, not a yes to the cancer question
        "最近关节不舒服",  # "不" inside "unwell" is no "no"
        "现在在吃药",  # "在" inside "现在" is no "yes, with me"
        "还是那家医院",  # "是" inside "还是" is no "yes"
    ],
)
def test_yes_and_no_inside_a_chinese_sentence_are_not_an_answer(text):
    assert parse_yes_no(text) is None


def test_traditional_characters_are_read_as_simplified():
    assert parse_yes_no("沒有") == "no"
    assert {m.id for m in read_medicines("強的松和驍悉").taken} == {
        "prednisone", "mycophenolate_mofetil"
    }


def test_not_sure_in_chinese_is_never_a_no():
    for text in ("不知道", "不清楚有没有", "记不清楚", "说不准"):
        assert is_unsure(text)
        assert parse_yes_no(text) == "unsure"


@pytest.mark.parametrize(
    ("run", "digits"),
    [
        ("三十四", "34"), ("十五", "15"), ("十", "10"), ("二十", "20"), ("一百零五", "105"),
        ("两百", "200"), ("一千二", "1200"), ("七点五", "7.5"), ("两", "2"), ("俩", "2"),
        ("二零二三", "2023"), ("三四", "3 or 4"), ("三四十", "30 or 40"),
        ("十七八", "17 or 18"), ("万", "10000"), ("两万", "20000"),
    ],
)  # fmt: skip
def test_chinese_numerals_are_read_as_digits(run, digits):
    lexicon = words.lexicon("zh")
    assert lexicon is not None and lexicon.numerals is not None
    assert numeral_value(run, lexicon.numerals) == digits


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("三十四岁", 34), ("34岁", 34), ("３４岁", 34), ("我今年28", 28), ("十五", 15),
        ("快18了", 17), ("刚满14岁", 14), ("我75，下个月满76", 75), ("下个月就76了", 75),
        ("17岁半", 17), ("七十六", 76),
    ],
)  # fmt: skip
def test_ages_in_chinese_and_mixed(text, age):
    assert parse_age(text) == age


@pytest.mark.parametrize(
    "text", ["三十多岁", "40左右", "七十几", "1990年出生", "明年就75了", "虚岁35", "三四十岁"]
)
def test_an_unclear_age_in_chinese_is_asked_again(text):
    assert parse_age(text) is None


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("两个半月", 2.5 * 30.4375), ("半年", 182.625), ("一年半", 547.875), ("六周", 42),
        ("三个星期", 21), ("两个礼拜", 14), ("10天", 10), ("半个月", 30.4375 / 2),
        ("一年零三个月", 365.25 + 3 * 30.4375), ("俩月", 60.875), ("５个月", 5 * 30.4375),
        ("快两个月了", 60.875 - 1), ("一年多", 366.25), ("三个多月", 3 * 30.4375 + 1),
    ],
)  # fmt: skip
def test_lengths_of_time_in_chinese(text, days):
    assert parse_duration_days(text) == pytest.approx(days, abs=0.01)


@pytest.mark.parametrize(
    "text",
    ["不到两个月", "三四个月", "好几个月", "从去年开始", "2023年开始", "二零二三年开始",
     "一月份开始吃的", "从今年3月份开始"],
)  # fmt: skip
def test_a_chinese_length_of_time_that_is_a_date_a_range_or_vague_is_asked_again(text):
    assert parse_duration_days(text) is None


def test_a_month_and_more_in_chinese_never_rules_a_patient_out():
    protocol = get_protocol("NCT06675422")
    question = protocol.question("treatment_duration")
    for text in ("一个多月", "十多天", "五十多天"):
        read = interpret(question, text, "zh")
        assert read is not None and read.at_least, text


@pytest.mark.parametrize(
    ("text", "mg"),
    [
        ("每天10毫克", 10), ("一天两片5毫克", 10), ("一天两片，一片5毫克", 10), ("７.５ｍｇ", 7.5),
        ("七点五毫克", 7.5), ("十五毫克", 15), ("一天两次，每次5mg", 10), ("早晚各5毫克", 10),
        ("隔天10mg", 5), ("5mg/天", 5), ("强的松一天三片，5毫克一片", 15), ("已经停了", 0),
        ("现在不吃了", 0), ("在减量，现在每天12.5毫克", 12.5),
    ],
)  # fmt: skip
def test_doses_in_chinese_and_mixed(text, mg):
    assert parse_daily_dose_mg(text) == mg


@pytest.mark.parametrize(
    "text", ["每天两片", "两片半", "5到10毫克", "5毫克或者10毫克", "不超过10毫克", "激素在减量"]
)
def test_a_chinese_dose_without_a_strength_or_with_a_bound_is_asked_again(text):
    assert parse_daily_dose_mg(text) is None


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ("泼尼松和骁悉", {"prednisone", "mycophenolate_mofetil"}),
        ("强地松和吗替麦考酚脂", {"prednisone", "mycophenolate_mofetil"}),
        ("甲泼尼松，他克莫斯", {"methylprednisolone", "tacrolimus"}),
        ("美卓乐+倍力腾", {"methylprednisolone", "belimumab"}),
        ("激素（美卓乐）+骁悉", {"methylprednisolone", "mycophenolate_mofetil"}),
        ("强的松、泰他西普", {"prednisone", "telitacicept"}),
        ("泼尼松、骁悉，环磷酰胺去年打完了", {"prednisone", "mycophenolate_mofetil"}),
        ("以前吃过羟氯喹，现在吃美卓乐和他克莫司", {"methylprednisolone", "tacrolimus"}),
        ("不吃激素了，只吃羟氯喹", {"hydroxychloroquine"}),
    ],
)
def test_medicines_named_in_chinese_generic_brand_and_misspelt(text, taken):
    reading = read_medicines(text)
    assert {m.id for m in reading.taken} == taken
    assert not reading.unrecognised


@pytest.mark.parametrize("text", ["没有", "什么药都不吃", "目前没有用药", "无", "现在没吃药了"])
def test_no_medicines_in_chinese(text):
    assert is_none_answer(text)


def test_a_relative_s_illness_is_not_the_patient_s_but_a_parent_by_the_patient_is_there():
    protocol = get_protocol("NCT06675422")
    brain = interpret(protocol.question("brain_condition"), "我爸爸中风过", "zh")
    assert brain is not None and brain.answer.value == "no"
    for text, language in (("妈妈在我身边", "zh"), ("my mum is with me", "en")):
        guardian = interpret(protocol.question("guardian"), text, language)
        assert guardian is not None and guardian.answer.value == "yes", text


def test_what_the_bot_says_back_in_chinese_comes_from_the_locale_not_the_parsers_words():
    protocol = get_protocol("NCT06675422")
    read = interpret(protocol.question("treatment_duration"), "两个半月", "zh")
    assert read is not None
    assert not any(word in read.understood for word in ("months", "and a half"))
    assert "月" in read.understood


# ---- a second language is a words file -----------------------------------------------------------


def test_every_words_file_loads_and_names_its_script():
    assert {lx.language for lx in words.lexicons()} >= {"zh"}
    for path in sorted(words.WORDS_DIR.glob("*.yml")):
        lexicon = load_lexicon(path)
        assert lexicon.script.pattern


def test_a_new_language_adds_words_not_code(tmp_path: Path, monkeypatch):
    """A toy words file for Japanese kana is enough for the same parsers to read it."""
    (tmp_path / "ja.yml").write_text(
        'script: "\\u3040-\\u309f"\n'
        "forms:\n"
        '  yes_no: {"yes": [はい, そうです], "no": [いいえ, ありません],\n'
        '           "not sure": [わからない]}\n'
        "  duration: {months: [かげつ]}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(words, "WORDS_DIR", tmp_path)
    words.lexicons.cache_clear()
    try:
        assert parse_yes_no("はい") == "yes"
        assert parse_yes_no("いいえ") == "no"
        assert parse_yes_no("わからない") == "unsure"
        assert parse_duration_days("3かげつ") == pytest.approx(3 * 30.4375)
        assert parse_yes_no("没有") is None  # no Chinese words in this directory
    finally:
        words.lexicons.cache_clear()


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("forms: {}\n", "script"),
        ('script: "z-a"\n', "character range"),
        ('script: "a-z"\nforms: {colour: {}}\n', "unknown kinds"),
        ('script: "a-z"\nforms: {yes_no: {"yes": oui}}\n', "list of forms"),
        ('script: "a-z"\nnumerals: {digits: {un: 1}}\n', "one character"),
        ('script: "a-z"\nalone: {colour: {}}\n', "alone"),
        ('script: "a-z"\nmedicines: {negation_patterns: ["(?<!"]}\n', "no pattern"),
        ('script: "a-z"\ntraditional: {from: ab, to: a}\n', "as many characters"),
    ],
)
def test_a_malformed_words_file_is_refused_with_the_reason(tmp_path: Path, body, complaint):
    path = tmp_path / "xx.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(WordsError, match=complaint):
        load_lexicon(path)


def test_text_in_no_words_file_s_script_is_left_as_it_is():
    assert canonical("no, never had it", "yes_no") == "no, never had it"


def test_a_numbered_option_typed_in_full_width_digits_picks_that_option():
    protocol = get_protocol("NCT06675422")
    for text, value in (("１", "yes"), ("２。", "no")):
        read = interpret(protocol.question("diagnosis"), text, "zh")
        assert read is not None and read.answer.value == value, text
