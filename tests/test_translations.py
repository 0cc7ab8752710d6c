"""Every word a patient reads exists in each of the trial's languages, and check-trials says so.

A text without the patient's language would be shown in the default language in the middle of a
Chinese conversation; these tests make the translation check fail on exactly that, and show the
Chinese words (units, medicine names, crisis numbers) come from the locale and the protocol.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot import answers, questions
from bot.cli import main as cli
from bot.engine import Answer
from bot.messages import catalogue, languages, placeholders
from bot.protocol import (
    ProtocolError,
    get_protocol,
    language_problems,
    load_protocol,
    missing_translations,
    parse_protocol,
)

TRIAL = Path(__file__).resolve().parent.parent / "trials" / "NCT06675422.yml"


def test_the_lupus_trial_is_screened_in_english_and_chinese_with_nothing_missing(capsys):
    protocol = get_protocol("NCT06675422")
    assert protocol.languages == ("en", "zh")
    assert missing_translations(protocol) == []
    assert language_problems([protocol], languages()) == []
    assert cli(["check-trials"]) == 0
    assert "in en, zh" in capsys.readouterr().out


def test_a_missing_chinese_text_fails_check_trials_naming_it(tmp_path, monkeypatch, capsys):
    text = TRIAL.read_text(encoding="utf-8")
    why_zh = '      zh: "最近的心肺情况"'  # not in the file: placeholder for the line we drop
    assert why_zh not in text
    # Drop the Chinese of one question's "why" and one exception's words.
    edited = text.replace('      zh: "研究医生需要确认您的心肺情况适合参加研究。"\n', "", 1)
    edited = re.sub(r'\n {10}zh: \["角膜", "眼角膜", "眼睛移植"\]', "", edited, count=1)
    assert edited.count("\n") == text.count("\n") - 2
    (tmp_path / "NCT06675422.yml").write_text(edited, encoding="utf-8")
    monkeypatch.setenv("TRIALS_DIR", str(tmp_path))
    assert cli(["check-trials"]) == 1
    err = capsys.readouterr().err
    assert "question 'fluid_heart_lungs'.why has no zh text" in err
    assert "question 'transplant'.exception 'cornea'.words has no zh words" in err
    assert err.count("has no zh") == 2


def test_a_trial_that_names_no_language_is_english_only_and_says_so(tmp_path):
    raw = yaml.safe_load(TRIAL.read_text(encoding="utf-8"))
    del raw["languages"]
    protocol = parse_protocol(raw, source=tmp_path / "X.yml")
    assert protocol.languages == ("en",)
    assert missing_translations(protocol) == []  # its Chinese words are extra, not missing
    # A patient asking for Chinese is screened in the trial's own language, not a mix.
    assert not protocol.speaks("zh")
    assert protocol.screening_language("zh") == "en"
    assert get_protocol().screening_language("zh") == "zh"


def test_a_trial_in_a_language_the_bot_has_no_words_for_fails(tmp_path):
    raw = yaml.safe_load(TRIAL.read_text(encoding="utf-8"))
    raw["languages"] = ["en", "zh", "fr"]
    protocol = parse_protocol(raw, source=tmp_path / "X.yml")
    problems = language_problems([protocol], languages())
    assert "NCT06675422: language 'fr' has no bot/locales/fr.yml" in problems
    assert any(p.endswith("summary has no fr text") for p in problems)
    with pytest.raises(ProtocolError, match="languages"):
        parse_protocol({**raw, "languages": "en"})


def test_the_chinese_locale_has_every_message_with_the_same_placeholders():
    english, chinese = catalogue("en"), catalogue("zh")
    assert set(english) <= set(chinese)
    for key in english:
        assert placeholders(key, "zh") == placeholders(key, "en"), key
    # No English sentence was left in: every message has Chinese characters, bar a few symbols.
    latin_only = [k for k in english if not re.search(r"[\u4e00-\u9fff]", chinese[k])]
    assert latin_only == ["intro_study", "numbered_option", "numbered_joiner", "confirm_item",
                          "list_joiner", "number_with_unit"]  # punctuation and {slots}


def test_a_missing_chinese_message_is_reported(monkeypatch):
    import bot.messages

    words = {k: v for k, v in catalogue("zh").items() if k != "readback_ask"}
    real = bot.messages.catalogue
    monkeypatch.setattr(
        bot.messages, "catalogue", lambda lang="en": words if lang == "zh" else real(lang)
    )
    assert "bot/locales/zh.yml: no 'readback_ask'" in language_problems([], ["en", "zh"])


def test_crisis_help_gives_the_sites_numbers_in_each_language():
    site = get_protocol().site
    assert site.crisis_numbers == {"emergency": "120", "psychological": "12356",
                                   "beijing": "010-82951332"}
    for language in ("en", "zh"):
        words = site.crisis_text(language)
        assert "120" in words and "12356" in words and "010-82951332" in words
        assert "{" not in words
    assert "心理援助热线" in site.crisis_text("zh")


def test_crisis_help_naming_a_number_the_site_does_not_set_is_refused():
    raw = yaml.safe_load(TRIAL.read_text(encoding="utf-8"))
    raw["site"]["crisis_numbers"] = {"emergency": "120"}
    with pytest.raises(ProtocolError, match="crisis_numbers"):
        parse_protocol(raw)


def test_lengths_ages_and_doses_are_read_back_in_chinese_units():
    protocol = get_protocol()
    assert questions.describe_days(2 * answers.DAYS_PER_MONTH, "zh") == "2个月"
    assert questions.describe_days(365.25, "zh") == "1年"
    assert questions.describe_days(14, "zh") == "2周"
    assert questions.describe_days(20, "zh") == "将近3周"
    assert questions.describe_days(3, "zh") == "3天"
    assert questions.describe(protocol.question("age"), 34, "zh") == "34岁"
    dose = questions.describe(protocol.question("steroid_dose"), 7.5, "zh")
    assert dose == "每天 7.5 毫克（按泼尼松计）"
    # The same in English is unchanged.
    assert questions.describe_days(365.25, "en") == "1 year"
    assert questions.describe(protocol.question("age"), 34, "en") == "34 years"


def test_medicines_are_read_back_by_their_chinese_names():
    question = get_protocol().question("lupus_meds")
    understood = questions.describe(question, ["prednisone", "mycophenolate_mofetil"], "zh")
    assert understood == "泼尼松（强的松），属于激素；吗替麦考酚酯（骁悉），属于免疫抑制剂"
    interpretation = questions.Interpretation(
        Answer(question.id, ["hydroxychloroquine"]), "羟氯喹，属于抗疟药"
    )
    assert questions.readback(question, interpretation, "zh") == (
        "跟您确认一下，您目前治疗狼疮用的药是：羟氯喹，属于抗疟药。 对吗？"
    )
    # Every medicine of the table has a Chinese name.
    assert all(f"medicine_{m.id}" in catalogue("zh") for m in answers.load_medicines())


def test_a_chinese_choice_label_or_synonym_picks_the_choice():
    question = get_protocol().question("sex")
    replies = (("女", "female"), ("男的", "male"), ("不想说", "not_said"), ("Female", "female"))
    for said, choice in replies:
        assert answers.parse_choice(said, question.choices) == choice, said
    assert [o.label for o in questions.options(question, "zh")] == ["女", "男", "不想说"]


def test_the_shipped_protocol_loads_from_its_file():
    assert load_protocol(TRIAL).site.crisis_text("zh").startswith("如果您有结束生命")


def test_copying_the_trials_folder_keeps_it_valid(tmp_path, monkeypatch):
    shutil.copy(TRIAL, tmp_path / TRIAL.name)
    monkeypatch.setenv("TRIALS_DIR", str(tmp_path))
    assert cli(["check-trials"]) == 0
