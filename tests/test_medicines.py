"""Medicines as patients name them: what is taken, what was stopped, and names the bot does not
know, in English and in Chinese; the one steroid's own dose."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import (
    MedicineReading,
    find_medicines,
    load_medicines,
    read_medicines,
    steroid_dose_in,
)
from bot.answers.medicines import _CJK_FILLER, _STOP_WORDS, _index, _name_key


def _taken(text: str) -> list[str]:
    return [m.id for m in read_medicines(text).taken]


def _stopped(text: str) -> list[str]:
    return [m.id for m in read_medicines(text).stopped]


def _unknown(text: str) -> list[str]:
    return list(read_medicines(text).unrecognised)


def _dose(text: str) -> tuple[str, float] | None:
    found = steroid_dose_in(text)
    return None if found is None else (found[0].id, found[1])


# ---- the table ---------------------------------------------------------------------------------


def test_every_name_in_the_table_finds_its_own_entry_and_nothing_unknown():
    for medicine in load_medicines():
        for name in medicine.names:
            reading = read_medicines(name)
            assert [m.id for m in reading.taken] == [medicine.id], name
            assert reading.unrecognised == (), name


def test_every_steroid_has_its_prednisone_equivalent_and_only_steroids_do():
    for medicine in load_medicines():
        if medicine.drug_class == "glucocorticoid" and medicine.id != "steroid_unspecified":
            assert medicine.prednisone_equivalent, medicine.id
        elif medicine.drug_class != "glucocorticoid":
            assert medicine.prednisone_equivalent is None, medicine.id
    table = {m.id: m for m in load_medicines()}
    assert table["cortisone"].prednisone_equivalent == 0.2
    assert table["biologic_unspecified"].drug_class == "biologic"


@pytest.mark.parametrize(
    "mid",
    ["mizoribine", "tripterygium", "iguratimod", "thalidomide", "total_glucosides_of_paeony"],
)
def test_medicines_used_for_lupus_in_china_count_as_immunosuppressants(mid):
    table = {m.id: m for m in load_medicines()}
    assert table[mid].drug_class == "immunosuppressant"


def test_no_everyday_word_the_reader_skips_is_a_medicine_name():
    names = _index(load_medicines()).exact
    assert not [w for w in _STOP_WORDS if _name_key(w) in names]
    assert not [w for w in _CJK_FILLER if w in names]


def test_a_one_character_chinese_name_is_refused(tmp_path):
    path = tmp_path / "medicines.yml"
    path.write_text(
        "medicines:\n  - {id: drug_a, name: drug a, class: other, names: [druga, 药]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="drug_a"):
        load_medicines(path)


# ---- what patients type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pred 10mg and MMF", ["prednisone", "mycophenolate_mofetil"]),
        ("HCQ, pred and cellcept", ["hydroxychloroquine", "prednisone", "mycophenolate_mofetil"]),
        ("prednisone and FK506", ["prednisone", "tacrolimus"]),
        ("prednisone and FK-506", ["prednisone", "tacrolimus"]),
        ("tac and pred", ["tacrolimus", "prednisone"]),
        ("pred n mmf", ["prednisone", "mycophenolate_mofetil"]),
        ("prednisone and CTX infusions", ["prednisone", "cyclophosphamide"]),
        ("steroids and a biologic injection", ["steroid_unspecified", "biologic_unspecified"]),
        ("Medrol and Benlysta", ["methylprednisolone", "belimumab"]),
    ],
)
def test_the_answers_the_issue_names_are_read_whole(text, expected):
    reading = read_medicines(text)
    assert [m.id for m in reading.taken] == expected
    assert reading.stopped == ()
    assert reading.unrecognised == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MP pulses", "methylprednisolone"), ("IVMP", "methylprednisolone"),
        ("MPA", "mycophenolic_acid"), ("AZA", "azathioprine"), ("MTX", "methotrexate"),
        ("CYC", "cyclophosphamide"), ("CsA", "cyclosporine"), ("LEF", "leflunomide"),
        ("RTX", "rituximab"), ("TAC", "tacrolimus"), ("HCQ", "hydroxychloroquine"),
        ("Dex", "dexamethasone"),
        ("EC-MPS", "mycophenolic_acid"), ("TGP", "total_glucosides_of_paeony"),
        ("a biologic", "biologic_unspecified"), ("biologics", "biologic_unspecified"),
        ("biological infusion", "biologic_unspecified"),
    ],
)  # fmt: skip
def test_the_abbreviations_clinics_use_are_understood(text, expected):
    assert _taken(text) == [expected]


@pytest.mark.parametrize(
    "text",
    ["my mp3 player", "temp", "I had a dexa scan", "tactic", "cya", "BLM", "the cyclo one"],
)
def test_abbreviations_that_mean_something_else_are_never_a_medicine(text):
    assert _taken(text) == []


@pytest.mark.parametrize(
    "text", ["restore", "creator", "cleaner", "proton", "recast", "biologically", "an asteroid"]
)
def test_an_everyday_word_close_to_a_brand_name_is_not_that_medicine(text):
    assert _taken(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prednisone and cyclo", "cyclo"),
        ("prednisone and CyA", "cya"),
    ],
)
def test_an_ambiguous_abbreviation_is_left_unrecognised_not_dropped(text, expected):
    assert _taken(text) == ["prednisone"]
    assert _unknown(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steriods", "steroid_unspecified"), ("cellsept", "mycophenolate_mofetil"),
        ("celcept", "mycophenolate_mofetil"), ("plaquenal", "hydroxychloroquine"),
        ("hydroxichloroquine", "hydroxychloroquine"), ("lefluonmide", "leflunomide"),
        ("tacrolimous", "tacrolimus"), ("methotrexait", "methotrexate"),
        ("azathiaprine", "azathioprine"), ("benlyster", "belimumab"),
        ("cyclophosamide", "cyclophosphamide"), ("predinsone", "prednisone"),
    ],
)  # fmt: skip
def test_common_misspellings_find_the_medicine(text, expected):
    assert _taken(text) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我在吃强的松和骁悉", ["prednisone", "mycophenolate_mofetil"]),
        ("我每天吃泼尼松10毫克，还有羟氯喹和吗替麦考酚酯",
         ["prednisone", "hydroxychloroquine", "mycophenolate_mofetil"]),
        ("强的松、纷乐、骁悉", ["prednisone", "hydroxychloroquine", "mycophenolate_mofetil"]),
        ("泼尼松龙5mg，艾拉莫德", ["prednisolone", "iguratimod"]),
        ("美卓乐和他克莫司", ["methylprednisolone", "tacrolimus"]),
        ("泰爱和甲强龙", ["telitacicept", "methylprednisolone"]),
        ("我在吃雷公藤多苷和强的松", ["tripterygium", "prednisone"]),
        ("吃激素和环磷酰胺", ["steroid_unspecified", "cyclophosphamide"]),
        ("米芙加地塞米松", ["mycophenolic_acid", "dexamethasone"]),
        ("环孢素A和氢化可的松", ["cyclosporine", "hydrocortisone"]),
        ("新山地明，硫唑嘌呤，甲氨蝶呤", ["cyclosporine", "azathioprine", "methotrexate"]),
        ("倍力腾每月一次和泼尼松", ["belimumab", "prednisone"]),
        ("美罗华，利妥昔单抗", ["rituximab"]),
        ("咪唑立宾、白芍总苷、沙利度胺",
         ["mizoribine", "total_glucosides_of_paeony", "thalidomide"]),
        ("来氟米特（爱若华）和强的松片", ["leflunomide", "prednisone"]),
        ("prednisone 10mg，骁悉", ["prednisone", "mycophenolate_mofetil"]),
    ],
)  # fmt: skip
def test_chinese_names_are_found_in_text_without_spaces(text, expected):
    reading = read_medicines(text)
    assert [m.id for m in reading.taken] == expected
    assert reading.unrecognised == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我在吃強的松和驍悉", ["prednisone", "mycophenolate_mofetil"]),
        ("甲潑尼龍和環孢素", ["methylprednisolone", "cyclosporine"]),
        ("環磷醯胺，貝利尤單抗，羥氯喹", ["cyclophosphamide", "belimumab", "hydroxychloroquine"]),
        ("美羅華和來氟米特", ["rituximab", "leflunomide"]),
    ],
)
def test_traditional_chinese_names_are_found_too(text, expected):
    reading = read_medicines(text)
    assert [m.id for m in reading.taken] == expected
    assert reading.unrecognised == ()


def test_the_longest_chinese_name_wins():
    assert _taken("泼尼松龙") == ["prednisolone"]
    assert _taken("甲泼尼龙") == ["methylprednisolone"]
    assert _taken("羟氯喹") == ["hydroxychloroquine"]
    assert _taken("氯喹") == ["chloroquine"]
    assert _taken("甲状腺激素") == ["levothyroxine"]  # a hormone, not a steroid


def test_chinese_characters_apart_are_not_one_name():
    assert _taken("泼尼松，龙胆") == ["prednisone"]


# ---- stopped or not taken ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "taken", "stopped"),
    [
        ("I stopped Imuran", [], ["azathioprine"]),
        ("no longer on MTX", [], ["methotrexate"]),
        ("used to take HCQ", [], ["hydroxychloroquine"]),
        ("I used to take plaquenil but now prednisone and cellcept",
         ["prednisone", "mycophenolate_mofetil"], ["hydroxychloroquine"]),
        ("Prednisone 5mg, stopped Imuran in 2019, now on Cellcept",
         ["prednisone", "mycophenolate_mofetil"], ["azathioprine"]),
        ("cellcept but I stopped it, now on benlysta", ["belimumab"], ["mycophenolate_mofetil"]),
        ("prednisone (stopped), cellcept", ["mycophenolate_mofetil"], ["prednisone"]),
        ("Prednisone 20 mg. I was on methotrexate but stopped it last year",
         ["prednisone"], ["methotrexate"]),
        ("methotrexate in the past, prednisone now", ["prednisone"], ["methotrexate"]),
        ("no steroids at the moment, just plaquenil", ["hydroxychloroquine"],
         ["steroid_unspecified"]),
        ("I'm not on imuran anymore", [], ["azathioprine"]),
        ("first plaquenil which i stopped because of my eyes, now cellcept",
         ["mycophenolate_mofetil"], ["hydroxychloroquine"]),
        ("prednisone, cellcept was stopped in june because of my liver, now on azathioprine",
         ["prednisone", "azathioprine"], ["mycophenolate_mofetil"]),
        ("停了骁悉，现在吃强的松", ["prednisone"], ["mycophenolate_mofetil"]),
        ("强的松停了，骁悉还在吃", ["mycophenolate_mofetil"], ["prednisone"]),
        ("停了嗎替麥考酚酯，現在吃他克莫司", ["tacrolimus"], ["mycophenolate_mofetil"]),
        ("以前吃过羟氯喹，现在吃美卓乐和他克莫司", ["methylprednisolone", "tacrolimus"],
         ["hydroxychloroquine"]),
        ("不吃激素，只吃羟氯喹", ["hydroxychloroquine"], ["steroid_unspecified"]),
        ("没有用过生物制剂，在吃泼尼松", ["prednisone"], ["biologic_unspecified"]),
        ("prednisone, and they want to start me on rituximab", ["prednisone"], ["rituximab"]),
        ("prednisone and I'm about to start cellcept", ["prednisone"],
         ["mycophenolate_mofetil"]),
        ("泼尼松，准备用贝利尤单抗", ["prednisone"], ["belimumab"]),
        ("泼尼松，医生说要加贝利尤单抗，还没打", ["prednisone"], ["belimumab"]),
        ("stopped cellcept and started prednisone", ["prednisone"], ["mycophenolate_mofetil"]),
        ("骁悉停了以后开始吃强的松", ["prednisone"], ["mycophenolate_mofetil"]),
        ("switched from imuran to cellcept, and prednisone",
         ["mycophenolate_mofetil", "prednisone"], ["azathioprine"]),
        ("I was switched to cellcept from imuran", ["mycophenolate_mofetil"], ["azathioprine"]),
        ("prednisone instead of medrol", ["prednisone"], ["methylprednisolone"]),
    ],
)  # fmt: skip
def test_a_medicine_the_patient_stopped_is_never_counted_as_taken(text, taken, stopped):
    assert _taken(text) == taken
    assert _stopped(text) == stopped


def test_a_medicine_named_both_as_taken_and_as_stopped_counts_as_stopped():
    reading = read_medicines("prednisone, cellcept, actually I stopped the cellcept")
    assert [m.id for m in reading.taken] == ["prednisone"]
    assert [m.id for m in reading.stopped] == ["mycophenolate_mofetil"]


@pytest.mark.parametrize(
    "text",
    [
        "prednisone, I stopped smoking",
        "prednisone since 2019, it was increased last month",
        "prednisone and I'll stop it next year",
        "prednisone for the past 2 years",
        "I'm not sure of the dose of my prednisone",
        "我不知道强的松的剂量",
        "I just started prednisone",
        "they put me on prednisone last year",
        "prednisone but the doctor wants to stop it",
        "pred off and on",
        "no I take prednisone",
        "没错，我吃强的松",
        "I haven't stopped prednisone",
        "prednisone, never stopped it",
        "强的松还没停",
        "没停强的松",
    ],
)
def test_other_stopping_or_doubt_near_a_medicine_does_not_stop_it(text):
    """Counting a steroid the patient takes as stopped could turn them away: only a clear
    "stopped" about that medicine stops it."""
    assert _taken(text) == ["prednisone"]
    assert _stopped(text) == []


# ---- names the table does not know -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "taken", "unknown"),
    [
        ("xeljanz", [], ["xeljanz"]),
        ("prednisone and rinvoq", ["prednisone"], ["rinvoq"]),
        ("prednisone, leflunomide and xeljanz 5mg", ["prednisone", "leflunomide"], ["xeljanz"]),
        ("some chinese herbs", [], ["chinese herbs"]),
        ("prednisone and a chemo drug", ["prednisone"], ["chemo"]),
        ("pred, dapsone and IVIG", ["prednisone"], ["dapsone", "ivig"]),
        ("prednisone and tacrolimus ointment", ["prednisone", "tacrolimus"], ["ointment"]),
        ("我吃中药和强的松", ["prednisone"], ["中药"]),
        ("我吃泼尼松和托法替布", ["prednisone"], ["托法替布"]),
        ("甲泼尼龙，还有一个进口的针", ["methylprednisolone"], ["进口"]),
        ("不记得名字了", [], []),
        ("Prednisone and Humira", ["prednisone"], ["humira"]),
        ("pred and something called lupinex", ["prednisone"], ["lupinex"]),
        ("prednisone and something else", ["prednisone"], ["something"]),
    ],
)
def test_a_name_the_table_does_not_know_is_reported_not_dropped(text, taken, unknown):
    assert _taken(text) == taken
    assert _unknown(text) == unknown


@pytest.mark.parametrize(
    "text",
    [
        "I take prednisone and cellcept every day for my lupus",
        "prednisone 5mg, plaquenil 200mg twice a day, cellcept 1000mg bd",
        "Pred 7.5 mg daily + MMF 1.5g BD + HCQ 400mg OD",
        "I'm on 10mg of prednisone a day and 2g of cellcept",
        "prednisone and cellcept, nothing else",
        "Benlysta injections weekly and pred, thanks",
        "hydroxychloroquine and prednisone since 2019",
        "prednisone, hydroxychloroquine, vitamin d and calcium",
        "Plaquenil, prednisone 10mg, and Benlysta IV monthly",
        "cyclophosphamide infusions monthly and pred 20mg",
        "I'm on prednisone, but I'm not sure about the dose",
        "currently taking azathioprine 100 mg and prednisolone 5 mg in the morning",
        "my rheumatologist put me on prednisone and methotrexate once a week with folic acid",
        "我现在每天吃两片泼尼松，还有羟氯喹",
        "目前在用甲泼尼龙片和他克莫司胶囊",
        "去年打过环磷酰胺，现在吃他克莫司和强的松",
        "我吃的药有泼尼松、羟氯喹、钙片和维生素D",
        "羟氯喹吃了三年了，效果不错，还有激素类药物",
        "我用的是甲泼尼龙冲击治疗，之后改口服泼尼松",
        "on pred & plaq",
        "Prednisone, that's it",
        "I'm taking Benlysta autoinjector weekly and prednisone",
        "Prednisolone 5mg, Mycophenolate 1g BD, Hydroxychloroquine 200mg OD, Adcal D3",
        "prednisone, cellcept, omeprazole, calcium and vitamin d, alendronic acid weekly",
    ],
)
def test_a_plain_list_of_medicines_has_no_unrecognised_words(text):
    assert read_medicines(text).unrecognised == ()


def test_unrecognised_names_are_normalised_and_listed_once():
    assert _unknown("Xeljanz, XELJANZ and xeljanz!") == ["xeljanz"]


def test_find_medicines_is_what_read_medicines_takes():
    for text in ["pred 10mg and MMF", "I stopped Imuran, now cellcept", "我在吃强的松和骁悉", ""]:
        assert find_medicines(text) == list(read_medicines(text).taken)


def test_an_empty_reply_names_nothing():
    assert read_medicines("") == MedicineReading((), (), ())
    assert read_medicines("   ") == MedicineReading((), (), ())


# ---- the steroid's own dose --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pred 10mg and MMF", ("prednisone", 10.0)),
        ("medrol 4 mg daily, cellcept 1g twice a day", ("methylprednisolone", 4.0)),
        ("dexamethasone 4mg and mycophenolate", ("dexamethasone", 4.0)),
        ("I'm on 10mg of prednisone a day and 2g of cellcept", ("prednisone", 10.0)),
        ("cellcept 1000mg bd, prednisone 7.5mg", ("prednisone", 7.5)),
        ("prednisone 5mg in the morning and 2.5mg at night, plus cellcept", ("prednisone", 7.5)),
        ("I take 2 tablets of prednisone 5mg", ("prednisone", 10.0)),
        ("prednisone 10 and cellcept 1000", ("prednisone", 10.0)),
        ("Benlysta 200mg, prednisone 5mg", ("prednisone", 5.0)),
        ("steroids 10mg and cellcept", ("steroid_unspecified", 10.0)),
        ("my steroid is prednisone 15 mg", ("prednisone", 15.0)),
        ("stopped dexamethasone, now prednisone 20mg", ("prednisone", 20.0)),
        ("泼尼松每天10毫克，骁悉", ("prednisone", 10.0)),
        ("甲泼尼龙4mg，他克莫司1mg一天两次", ("methylprednisolone", 4.0)),
        ("硫唑嘌呤 50mg 每天, 强的松 15mg", ("prednisone", 15.0)),
        ("泼尼松一天两次，每次5mg", ("prednisone", 10.0)),
        ("每天两片强的松，一片是5毫克", ("prednisone", 10.0)),  # Chinese numerals are read
        ("甲泼尼龙每天八毫克，吗替麦考酚酯", ("methylprednisolone", 8.0)),
    ],
)
def test_the_one_steroid_named_with_its_dose_gives_that_dose_as_written(text, expected):
    assert _dose(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "prednisone and cellcept",  # no dose
        "cellcept 1g",  # no steroid
        "IV MP pulses then pred 40",  # two steroids
        "prednisone 10mg and dexamethasone 2mg",  # two steroids
        "cellcept 1g prednisone",  # the number is cellcept's
        "hydroxychloroquine and prednisone since 2019",  # a year, not a dose
        "prednisone 5 or 10 mg",  # two doses
        "prednisone tapering from 20mg",  # a changing dose
        "I stopped prednisone 2 weeks ago",  # not taken
        "prednisone 2 tablets",  # tablets, not mg
        "强的松 半片",  # half a tablet of what strength?
        "强的松两片",  # tablets, not mg
        "",
    ],
)
def test_no_steroid_dose_is_read_unless_one_steroid_has_one_readable_dose(text):
    assert steroid_dose_in(text) is None


# ---- any text ----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    ["prednisone", "pred", "MP", "cellcept", "stopped", "no", "not sure", "10mg", "7.5", " ",
     ", ", "and", "强的松", "骁悉", "停了", "不知道", "，", "每天", "毫克", "(", ")", "-", "'",
     "xeljanz", "used to", "twice a day", "\n", "1g", "rc-18", "中药", "🙂"]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000) | st.lists(_PIECES, max_size=400).map("".join))
def test_reading_any_reply_never_fails(text):
    reading = read_medicines(text[:2000])
    assert not {m.id for m in reading.taken} & {m.id for m in reading.stopped}
    assert all(name and name == name.strip() for name in reading.unrecognised)
    found = steroid_dose_in(text[:2000])
    assert found is None or (found[0].drug_class == "glucocorticoid" and found[1] >= 0)
