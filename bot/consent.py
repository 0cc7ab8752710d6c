"""Consent: whether a reply is an explicit yes, and which words the patient agreed to.

Consent is a gate: only an explicit yes opens the health questions. "Sorry, I made a mistake" or
"actually wait" is not a yes, whatever NLU made of it, so the question is asked again.

Each consent (to health questions, to be contacted after the chat or from the study page's
form, to news of other trials) is stored with its
time, its words and the version of those words. The versions live in
``bot/consent_versions.yml``, keyed by a fingerprint of the exact templates the patient
reads: a change to any of those words without a new version there fails ``check-trials``, so what
an ethics committee approved is always known.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.answers import normalise, parse_button_payload, parse_yes_no
from bot.messages import catalogue, msg

VERSIONS_FILE = Path(__file__).resolve().parent / "consent_versions.yml"

# The introduction, one short message each, before the consent question: part of the words
# the patient agrees to when they say yes to the health questions.
INTRO: tuple[str, ...] = ("intro", "intro_study", "intro_prescreen", "intro_privacy")

# Each consent, and the locale keys of the words the patient reads for it; the last key is the
# summary stored with the consent for the study team. "form_contact" is the study page's contact
# form, for a patient who would rather not chat: no answers go with their details.
KINDS: dict[str, tuple[str, ...]] = {
    "screening": (*INTRO, "consent_ask", "consent_ask_continue", "consent_yes",
                  "consent_wording"),
    "contact": ("ask_contact_consent", "option_agree", "contact_consent_wording"),
    "optin": ("ask_optin_consent", "option_agree", "optin_consent_wording"),
    "form_contact": ("form_contact_consent_ask", "option_agree", "form_contact_consent_wording"),
}


@dataclass(frozen=True)
class Wording:
    """The words of one consent as shown, and their approved version."""

    kind: str
    language: str
    text: str
    version: str
    fingerprint: str


def fingerprint(kind: str, language: str) -> str:
    """A short hash of the templates of one consent's words in one language."""
    words = catalogue(language)
    joined = "\x1f".join(f"{key}={words.get(key, '')}" for key in KINDS[kind])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=1)
def _registered() -> dict[str, dict[str, list[dict[str, str]]]]:
    data = yaml.safe_load(VERSIONS_FILE.read_text(encoding="utf-8")) or {}
    return {
        str(lang): {str(kind): [dict(v) for v in versions] for kind, versions in kinds.items()}
        for lang, kinds in data.items()
    }


def version(kind: str, language: str) -> str | None:
    """The registered version of today's words, or None when they changed without a new one."""
    current = fingerprint(kind, language)
    for entry in _registered().get(language, {}).get(kind, []):
        if entry.get("fingerprint") == current:
            return str(entry["version"])
    return None


def wording(kind: str, language: str, /, **values: Any) -> Wording:
    """The stored words of one consent, filled in, with their version.

    Words without a registered version are still recorded, under ``unregistered-<fingerprint>``:
    a patient's consent is never lost to a missing entry, and ``check-trials`` fails until the
    new version is registered.
    """
    print_ = fingerprint(kind, language)
    text = msg(KINDS[kind][-1], language, **values)
    return Wording(kind, language, text, version(kind, language) or f"unregistered-{print_}",
                   print_)


def unregistered(languages: list[str]) -> list[str]:
    """Each consent whose words changed since their version was registered, as a message."""
    problems = []
    for language in languages:
        for kind in KINDS:
            if version(kind, language) is None:
                problems.append(
                    f"consent words '{kind}' in {language} changed and have no version: once "
                    f"they are approved, add {{version: <new>, approved: <date>, fingerprint: "
                    f"{fingerprint(kind, language)}}} to {language}.{kind} in "
                    f"bot/{VERSIONS_FILE.name}"
                )
    return problems

# Plain agreement, as patients type it at this one question, by language.
_AGREEMENT = {
    "en": frozenset(
        {"ok", "okay", "ok go", "okay go", "go ahead", "fine", "alright", "all right",
         "let's start", "lets start", "let's go", "lets go", "start", "go on", "ask away",
         "ok ask", "ok ask me", "you can", "yes you can", "i agree", "agreed"}
    ),
}  # fmt: skip
_PAYLOADS = {"/affirm": "yes", "/deny": "no"}


def consent_reply(text: str, language: str = "en") -> Literal["yes", "no"] | None:
    """ "yes" only for a clear agreement (a tap on the button, "yes", "ok, go ahead"), "no" for
    a refusal, None for anything else: then the bot asks again."""
    raw = (text or "").strip()
    if raw in _PAYLOADS:
        return _PAYLOADS[raw]  # type: ignore[return-value]
    raw = parse_button_payload(raw) or raw
    t = normalise(raw).rstrip("!.")
    if t in _AGREEMENT.get(language, _AGREEMENT["en"]):
        return "yes"
    answer = parse_yes_no(raw)
    return answer if answer in ("yes", "no") else None
