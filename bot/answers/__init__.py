"""Deterministic parsing of patients' free-text answers.

Patients are often unwell and typing on a phone, so the parsers accept many phrasings, spellings
and number formats. They never guess: when a reply could mean two things, or nothing recognisable,
they return None (or "unsure"), and the bot asks again or leaves the point for the site to confirm.

Everything here is a pure function of the text. Nothing is logged: the text is health data.

One module per kind of answer: ``text`` (normalising, shared helpers), ``yes_no``, ``numbers``,
``durations``, ``doses``, ``medicines``, ``choices`` (with button payloads). Import from this
package, not from the modules.
"""

from __future__ import annotations

from bot.answers.choices import Choice, parse_button_payload, parse_choice
from bot.answers.describing import describes, mentions
from bot.answers.doses import parse_daily_dose_mg
from bot.answers.durations import DAYS_PER_MONTH, DAYS_PER_WEEK, DAYS_PER_YEAR, parse_duration_days
from bot.answers.medicines import (
    DRUG_CLASSES,
    MEDICINES_PATH,
    Medicine,
    MedicineReading,
    find_medicines,
    load_medicines,
    read_medicines,
    steroid_dose_in,
)
from bot.answers.numbers import parse_age, parse_number
from bot.answers.text import normalise
from bot.answers.yes_no import YesNo, is_none_answer, is_unsure, parse_yes_no

__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_WEEK",
    "DAYS_PER_YEAR",
    "DRUG_CLASSES",
    "MEDICINES_PATH",
    "Choice",
    "Medicine",
    "MedicineReading",
    "YesNo",
    "describes",
    "find_medicines",
    "is_none_answer",
    "is_unsure",
    "load_medicines",
    "mentions",
    "normalise",
    "parse_age",
    "parse_button_payload",
    "parse_choice",
    "parse_daily_dose_mg",
    "parse_duration_days",
    "parse_number",
    "parse_yes_no",
    "read_medicines",
    "steroid_dose_in",
]
