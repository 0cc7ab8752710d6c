"""Which language a conversation is in: the page's choice, a patient's request, their writing.

The study page passes its language with the first message; on a messaging app the bot follows
the patient's first message (written in Chinese characters: Chinese) and switches when a whole
message asks for another language ("English please", "说中文"). The languages, their scripts and
the requests are data (``bot/languages.yml``); the words the bot says are its locale files.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.messages import languages

LANGUAGES_FILE = Path(__file__).resolve().parent / "languages.yml"

_SCRIPTS = {
    "han": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]"),
}
# What a request may carry around it: punctuation, "please", "ok", emphasis.
_FILLER = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class Language:
    code: str
    script: str
    switch: frozenset[str]


@lru_cache(maxsize=1)
def known() -> dict[str, Language]:
    """The languages of ``bot/languages.yml`` that have a locale file, by code."""
    raw = yaml.safe_load(LANGUAGES_FILE.read_text(encoding="utf-8")) or {}
    found = {}
    for code, entry in raw.items():
        if str(code) not in languages():
            continue
        script = str(entry.get("script", "latin"))
        if script not in _SCRIPTS:
            raise ValueError(f"{LANGUAGES_FILE.name}: {code}: unknown script {script!r}")
        found[str(code)] = Language(
            str(code), script, frozenset(_squeeze(str(p)) for p in entry.get("switch") or [])
        )
    return found


def _squeeze(text: str) -> str:
    """Lower case, full-width folded, without spaces or punctuation: "English, please!" and
    "english please" are one request, as are "说中文。" and "说 中文"."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return _FILLER.sub("", folded)


def requested(text: str) -> str | None:
    """The language a whole message asks for, or None when it is not such a request."""
    if not text or len(text) > 40 or text.startswith("/"):
        return None
    squeezed = _squeeze(text)
    if not squeezed:
        return None
    for code, language in known().items():
        if squeezed in language.switch:
            return code
    return None


def written_in(text: str) -> str | None:
    """The language a message is written in, by its script: Chinese characters are Chinese,
    Latin letters the default language; None for a payload, digits or emoji only."""
    if not text or text.startswith("/"):
        return None
    counts = {
        code: len(_SCRIPTS[lang.script].findall(text)) for code, lang in known().items()
    }
    best = max(counts.values(), default=0)
    if best == 0:
        return None
    # Chinese text often carries Latin letters (drug names, "ANA", "mg"): two Chinese characters
    # outweigh any number of letters, as one Chinese character says more than one letter.
    han = [code for code, lang in known().items() if lang.script == "han" and counts[code] >= 2]
    if han:
        return han[0]
    return max(counts, key=lambda code: counts[code])


def chosen(value: object) -> str | None:
    """A language code passed by a page or a channel, if the bot speaks it: "zh", "zh-CN",
    "zh_Hans" are Chinese."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().replace("_", "-").split("-")[0].lower()
    return code if code in known() else None
