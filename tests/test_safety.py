"""Crisis messages are recognised without the NLU model; ordinary answers are not."""

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
