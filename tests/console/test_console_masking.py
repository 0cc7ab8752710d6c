"""What a monitor gets instead of contact details, in fields and in free text."""

from __future__ import annotations

import pytest

from bot.console.masking import EMAIL_MASK, PHONE_MASK, scrub


@pytest.mark.parametrize(("text", "secret", "mask"), [
    ("my email is maria.garcia@example.com", "garcia@example", EMAIL_MASK),
    ("call +86 138 0013 8000 please", "0013", PHONE_MASK),
    ("13800138000", "13800138000", PHONE_MASK),
    ("(010) 6552-9988", "6552", PHONE_MASK),
    ("0086-138-0013-8000", "0013", PHONE_MASK),
])
def test_contact_details_in_free_text_are_masked(text, secret, mask):
    masked = scrub(text)
    assert secret not in masked and mask in masked


@pytest.mark.parametrize("text", [
    "thirty-four", "34", "10 mg a day", "diagnosed in 2019", "since 2019-05-12",
    "two and a half months", "I take 5 mg and 10 mg",
])
def test_answers_about_health_are_left_alone(text):
    assert scrub(text) == text


def test_known_values_are_masked_whatever_their_shape():
    assert "Garcia42" not in scrub("write to Garcia42 on WeChat", known=["Garcia42"])
