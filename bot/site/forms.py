"""The study page's two forms: the contact form for patients who would rather not chat, and the
sign-up for news of other trials.

Each field is checked by the chat's own validators (:mod:`bot.contact`), so a name, an email or
a phone number the chat refuses the page refuses too, with the same words (``bot/locales``).
What the patient typed is kept as typed and shown again beside the message; only the cleaned
values are stored. Consent is a ticked box under the consent question's own words, whose
version is recorded (:mod:`bot.consent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot import contact
from bot.leads import ContactDetails

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "other_language")
MAX_FIELD_CHARS = 200


@dataclass
class Submitted:
    """A form as sent: the values as typed (shown again on an error), the problems found (field
    to locale key of ``bot/locales``), and the clean values when there is none."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    details: ContactDetails | None = None
    email: str | None = None  # the sign-up's address, clean

    @property
    def ok(self) -> bool:
        return not self.errors


def _typed(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name) or "")[:MAX_FIELD_CHARS]


def _other_language(text: str) -> str | None:
    """The page's optional 'Other language': empty is none, else a language's name."""
    if not text.strip():
        return ""
    return contact.clean_other_language(text)


def read_contact_form(form: Mapping[str, str]) -> Submitted:
    """The contact form's fields, each checked by the chat's validator, and its consent box."""
    values = {name: _typed(form, name) for name in CONTACT_FIELDS}
    checks: dict[str, tuple[Callable[[str], str | None], str]] = {
        "first_name": (contact.clean_name, "invalid_name"),
        "last_name": (contact.clean_name, "invalid_name"),
        "email": (contact.clean_email, "invalid_email"),
        "phone": (contact.clean_phone, "invalid_phone"),
        "other_language": (_other_language, "invalid_other_language"),
    }
    submitted = Submitted(values)
    clean: dict[str, str] = {}
    for name, (check, error) in checks.items():
        value = check(values[name]) if values[name].strip() or name == "other_language" else None
        if value is None:
            submitted.errors[name] = "form_required" if not values[name].strip() else error
        else:
            clean[name] = value
    if form.get("consent") == "yes":
        values["consent"] = "yes"  # the patient's own tick, kept if another field has a problem
    else:
        submitted.errors["consent"] = "form_consent_required"
    if submitted.ok:
        submitted.details = ContactDetails(
            first_name=clean["first_name"], last_name=clean["last_name"], email=clean["email"],
            phone=clean["phone"], other_language=clean["other_language"] or None,
        )
    return submitted


def read_signup_form(form: Mapping[str, str]) -> Submitted:
    """The sign-up: an email address, checked as the chat's opt-in checks it, and consent."""
    values = {"email": _typed(form, "email")}
    submitted = Submitted(values)
    email = contact.clean_email(values["email"]) if values["email"].strip() else None
    if email is None:
        submitted.errors["email"] = "form_required" if not values["email"].strip() else (
            "invalid_email")
    if form.get("consent") == "yes":
        values["consent"] = "yes"
    else:
        submitted.errors["consent"] = "form_consent_required"
    submitted.email = email if submitted.ok else None
    return submitted
