"""The bot's own words, by language, from ``bot/locales/<language>.yml``.

Trial-specific text comes from the trial's protocol file; everything else a patient reads comes
from here, never from code, so that a new language is a new file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"


@lru_cache(maxsize=8)
def catalogue(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    path = LOCALES_DIR / f"{language}.yml"
    if not path.exists():
        path = LOCALES_DIR / f"{DEFAULT_LANGUAGE}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def languages() -> list[str]:
    """The languages the bot speaks: one locale file each."""
    return sorted(path.stem for path in LOCALES_DIR.glob("*.yml"))


def placeholders(key: str, language: str = DEFAULT_LANGUAGE) -> set[str]:
    return {f for _, f, _, _ in Formatter().parse(catalogue(language)[key]) if f}


def msg(key: str, language: str = DEFAULT_LANGUAGE, /, **values: Any) -> str:
    """The message ``key`` in ``language`` with its placeholders filled.

    A missing key or placeholder is a programming error and raises, so tests catch it.
    """
    text = catalogue(language).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE)[key]
    return text.format(**values)
