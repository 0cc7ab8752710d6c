"""Checks for the contact form's fields: each returns the clean value, or None when invalid."""

from __future__ import annotations

import os
import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.answers import normalise, parse_yes_no

_NAME_PREFIX = re.compile(
    r"^(?:(?:hi|hello)[, ]+)?(?:my (?:first |last |sur|family )?name is|i am|i'm|it's|it is|"
    r"call me|this is)\s+",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[^\W\d_]+(?:[ '’.-][^\W\d_]+)*\.?$", re.UNICODE)
_EMAIL_PREFIX = re.compile(r"^(?:my )?e-?mail(?: address)?(?: is)?[: ]+", re.IGNORECASE)
_PHONE_PREFIX = re.compile(
    r"^(?:my )?(?:phone|mobile|cell|tel|telephone)(?: number)?(?: is)?[: ]+", re.IGNORECASE
)
_NO_OTHER_LANGUAGE = {"no", "none", "english", "english is fine", "no thanks", "nope", "n"}


def clean_name(text: str) -> str | None:
    """A first or last name: letters (any script), spaces, hyphens and apostrophes."""
    value = _NAME_PREFIX.sub("", text.strip()).strip().strip(",")
    if not value or len(value) > 100 or not _NAME.match(value):
        return None
    return value[0].upper() + value[1:] if value[0].islower() else value


def clean_email(text: str) -> str | None:
    value = _EMAIL_PREFIX.sub("", text.strip()).strip().strip(".,;")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def default_phone_region() -> str:
    return os.environ.get("DEFAULT_PHONE_REGION", "CN").upper()


def clean_phone(text: str, region: str | None = None) -> str | None:
    """A phone number in international (E.164) form, or None if it cannot be a real number."""
    value = _PHONE_PREFIX.sub("", text.strip()).strip()
    if not re.fullmatch(r"[+()\d\s./-]{5,30}", value):
        return None
    try:
        number = phonenumbers.parse(value, region or default_phone_region())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_other_language(text: str) -> str | None:
    """The language the patient prefers besides English; '' for none; None when unclear."""
    value = normalise(text)
    if value in _NO_OTHER_LANGUAGE or parse_yes_no(value) == "no":
        return ""
    value = re.sub(r"^(?:yes[, ]+)?(?:i (?:prefer|speak|would prefer)|in)\s+", "", value).strip()
    if not value or len(value) > 40 or not re.fullmatch(r"[^\W\d_]+(?:[ -][^\W\d_]+)*", value):
        return None
    return value.title()


_STOP_REQUESTS = {
    "stop", "stop please", "please stop", "cancel", "quit", "exit", "end", "stop it",
    "i want to stop", "i'd like to stop", "i don't want to continue", "no more questions",
    "leave me alone", "never mind", "nevermind", "forget it", "i changed my mind",
}


def is_stop_request(text: str) -> bool:
    """A reply that asks to stop rather than give the field (an exact phrase, not a surname)."""
    return normalise(text) in _STOP_REQUESTS
