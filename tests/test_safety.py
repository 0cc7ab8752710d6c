"""Crisis messages are recognised without the NLU model, in English and Chinese; ordinary answers
are not."""

import pytest

from bot.safety import mentions_crisis


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "i don't want to be here anymore",
        "I've been thinking about ending my life",
        "sometimes I wish I were dead",
        "I feel like hurting myself",
        "I have had suicidal thoughts",
        "I can't go on like this",
    ],
)
def test_a_crisis_message_is_recognised(text):
    assert mentions_crisis(text)


@pytest.mark.parametrize(
    "text",
    ["no", "I want to stop", "my joints hurt", "I take prednisone", "I don't want to continue",
     "is it safe?", "I'm 34", "no I don't want to be contacted"],
)
def test_an_ordinary_message_is_not(text):
    assert not mentions_crisis(text)


@pytest.mark.parametrize(
    "text",
    [
        "我想死",
        "真的好想死",
        "我想去死。",
        "不想活了",
        "我不想再活下去了",
        "病治不好，活着没意思",
        "活着也没什么意义",
        "活着太累了",
        "我有轻生的念头",
        "有时候想自杀",
        "我有想伤害自己的想法",
        "想割腕",
        "想从楼上跳楼",
        "想结束自己的生命",
        "一了百了算了",
        "还不如死了",
        "死了就解脱了",
        "想离开这个世界",
        "没有活下去的理由",
        "想吞一把安眠药",
        "我经常自残",
        "活不下去了",
        "不想 活了",  # a space typed between the words
        "不想活了！！",  # full-width punctuation
        "我想自殺",  # traditional characters
        "活著沒意思",
        "谢谢，但是我真的不想活了",  # beside ordinary words
        "has prednisone made me 想死",  # mixed languages
    ],
)
def test_a_chinese_crisis_message_is_recognised(text):
    assert mentions_crisis(text)


@pytest.mark.parametrize(
    "text",
    [
        "死亡率高吗",
        "这个试验有人死亡吗",
        "不想吃药",
        "我不想继续了",
        "不想做了",
        "我不想死，所以想问安全吗",
        "疼死了",
        "累死了，今天跑了三家医院",
        "烦死了，问题太多",
        "吓死我了",
        "想死你们了",  # "I miss you so much"
        "不想活动，关节痛",
        "我吃安眠药助眠",
        "每天吃10mg强的松",
        "没有",
        "活着的时候",
    ],
)
def test_an_ordinary_chinese_message_is_not(text):
    assert not mentions_crisis(text)
