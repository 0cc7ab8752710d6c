"""What the study page shows, from a trial's protocol file and the page's own words.

Pure functions of the protocol, so the page is tested without a server. The page's own words
(headings, labels, the widget's buttons) come from ``bot/site/locales/<language>.yml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

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
    )


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
