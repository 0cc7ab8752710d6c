"""What the study page shows, from a trial's protocol file and the page's own words.

Pure functions of the protocol, so the page is tested without a server. The page's own words
(headings, labels, the widget's buttons) come from ``bot/site/locales/<language>.yml``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.contact import display_phone
from bot.protocol import Protocol

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=8)
def _catalogue(language: str) -> dict[str, str]:
    path = LOCALES_DIR / f"{language}.yml"
    if not path.exists():
        path = LOCALES_DIR / f"{DEFAULT_LANGUAGE}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def text(key: str, language: str = DEFAULT_LANGUAGE, /, **values: Any) -> str:
    """The page's words for ``key``; a missing key raises, so tests catch it."""
    found = _catalogue(language).get(key)
    if found is None:
        found = _catalogue(DEFAULT_LANGUAGE)[key]
    return found.format(**values)


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class Faq:
    question: str
    answer: list[str]


@dataclass(frozen=True)
class TrialPage:
    trial_id: str
    code: str
    title: str
    short_title: str
    site_name: str
    recruiting: bool
    status: str
    phase: str
    ages: str
    summary: str
    facts: list[Fact]
    overview: list[str]
    description: list[str]
    faqs: list[Faq]
    site_place: str
    site_contact: list[str]
    # The listing's "Primary Contact": what the protocol (or SITE_PHONE / SITE_EMAIL) gives;
    # empty strings where nothing is known, and the page shows only what there is.
    site_phone: str = ""  # E.164, for the tel: link
    site_phone_shown: str = ""  # as people read it: +86 871 6477 4230
    site_email: str = ""
    site_address: list[str] = field(default_factory=list)
    # The languages the study team works in (the trial's), each named in itself.
    languages_supported: list[str] = field(default_factory=list)
    registry_url: str = ""

    @property
    def heading(self) -> str:
        """The short title as a heading: "The JY231 study for active lupus"."""
        return self.short_title[:1].upper() + self.short_title[1:]


def paragraphs(value: str) -> list[str]:
    """Text split at blank lines, so a long field reads as paragraphs."""
    return [p.strip() for p in value.split("\n\n") if p.strip()]


def status_label(status: str, language: str = DEFAULT_LANGUAGE) -> str:
    if status == "recruiting":
        return text("status_recruiting", language)
    return text("status_other", language, status=status.replace("_", " ").capitalize())


def sex_label(sex: str, language: str = DEFAULT_LANGUAGE) -> str:
    key = f"sex_{sex}"
    return text(key, language) if key in _catalogue(DEFAULT_LANGUAGE) else sex.capitalize()


def trial_page(protocol: Protocol, language: str = DEFAULT_LANGUAGE) -> TrialPage:
    status = status_label(protocol.status, language)
    ages = text("fact_ages_value", language, min_age=protocol.min_age, max_age=protocol.max_age)
    facts = [
        Fact(text("fact_status", language), status),
        Fact(text("fact_phase", language), protocol.phase),
        Fact(text("fact_ages", language), ages),
        Fact(text("fact_sex", language), sex_label(protocol.sex, language)),
        Fact(text("fact_condition", language), protocol.condition.get(language)),
    ]
    if protocol.sponsor:
        facts.append(Fact(text("fact_sponsor", language), protocol.sponsor))
    site = protocol.site
    return TrialPage(
        trial_id=protocol.id,
        code=protocol.code,
        title=protocol.title_in(language),
        short_title=protocol.short_title.get(language),
        site_name=protocol.site_name(language),
        recruiting=protocol.is_recruiting,
        status=status,
        phase=protocol.phase,
        ages=ages,
        summary=protocol.summary.get(language),
        facts=facts,
        overview=paragraphs(protocol.overview.get(language)),
        description=paragraphs(protocol.description.get(language)),
        faqs=[Faq(f.question.get(language), paragraphs(f.answer.get(language)))
              for f in protocol.faqs],
        site_place=", ".join(p for p in (site.city, site.country) if p),
        site_contact=paragraphs(site.contact.get(language)),
        site_phone=(phone := protocol.site_phone()),
        site_phone_shown=display_phone(phone) if phone else "",
        site_email=protocol.site_email(),
        site_address=[line.strip() for line in site.address.get(language).splitlines()
                      if line.strip()],
        languages_supported=[text("language_name", code) for code in page_languages(protocol)],
        registry_url=registry_url(protocol.id),
    )


REGISTRY_URL = "https://clinicaltrials.gov/study/{nct_id}"
_NCT_ID = re.compile(r"^NCT\d{8}$")


def registry_url(trial_id: str) -> str:
    """The trial's record on ClinicalTrials.gov, for an NCT id; "" for any other id."""
    return REGISTRY_URL.format(nct_id=trial_id) if _NCT_ID.match(trial_id) else ""


def greeting_payload(trial_id: str, language: str | None = None) -> str:
    """What the widget sends first: the greeting, naming the page's trial (entity ``trial``) and
    the page's language (entity ``language``: the bot speaks it from its first reply)."""
    entities = {"trial": trial_id} | ({"language": language} if language else {})
    return "/greet" + json.dumps(entities)


def page_languages(protocol: Protocol) -> list[str]:
    """The languages a trial's page can be shown in: the trial's, where the page has words."""
    return [code for code in protocol.languages if (LOCALES_DIR / f"{code}.yml").is_file()]


def widget_strings(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The words the widget's script shows, passed to it with its settings."""
    keys = ("chat_you", "chat_assistant", "chat_typing", "chat_options_label", "chat_connecting",
            "chat_offline", "chat_no_answer")
    return {key.removeprefix("chat_"): text(key, language) for key in keys}
