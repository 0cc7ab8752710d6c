"""Contact details hidden from monitors, on the server: what is masked never reaches the browser.

Fields known to be contact details are replaced outright. Free text (what a patient typed, staff
notes) is scrubbed of anything shaped like an email address or a phone number, so a monitor never
sees one, even when a patient typed theirs into the chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "•••"
EMAIL_MASK = "•••@•••"
PHONE_MASK = "••• ••• ••••"

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*", re.UNICODE)
# A run of seven or more digits, possibly split by spaces, dots, dashes, slashes or parentheses,
# with an optional leading "+" or "00": how people write phone numbers.
_PHONE = re.compile(r"(?<![\w])(?:\+|00)?\(?\d(?:[\s./()-]{0,3}\d){6,}(?![\w])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def mask_email(_value: str | None) -> str:
    return EMAIL_MASK if _value else ""


def mask_phone(_value: str | None) -> str:
    return PHONE_MASK if _value else ""


def _phone_or_date(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _ISO_DATE.fullmatch(text) else PHONE_MASK


def scrub(text: str | None, known: Iterable[str | None] = ()) -> str:
    """``text`` with email addresses, phone numbers and the ``known`` values masked."""
    if not text:
        return text or ""
    text = _PHONE.sub(_phone_or_date, _EMAIL.sub(EMAIL_MASK, text))
    for value in known:
        if value and len(value) >= 3:
            text = re.sub(re.escape(value), MASK, text, flags=re.IGNORECASE)
    return text
