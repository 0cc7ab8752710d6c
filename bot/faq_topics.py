"""Which FAQ topics the NLU can tell apart, per language, read from its training data.

Questions about trials and the study are one Rasa retrieval intent, ``faq``, whose sub-intents
``faq/<topic>`` are the topics of the trials' FAQs (``trials/*.yml``, ``faqs:``). The topic
selector (``channels/response_selector.py``, writing Rasa's ResponseSelector's output) picks the
topic and ``action_answer_faq`` answers it from the trial's file, so a new trial with the same
topics needs no change to Rasa's files at all. A trial topic with no
training examples in a language could never be selected there: ``python -m bot check-trials``
reports it (:func:`topic_problems`), so a new topic arrives with its examples.

Training data in ``data/nlu/`` is in the default language; ``data/nlu/<language>/`` in that one.
Read as plain YAML: ``bot/`` never imports Rasa.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from bot.messages import DEFAULT_LANGUAGE
from bot.settings import PROJECT_ROOT

FAQ_INTENT = "faq"
NLU_DIR = PROJECT_ROOT / "data" / "nlu"


def trained_topics(nlu_dir: Path = NLU_DIR) -> dict[str, set[str]]:
    """Language -> the FAQ topics with training examples in it."""
    topics: dict[str, set[str]] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        relative = path.relative_to(nlu_dir)
        language = relative.parts[0] if len(relative.parts) > 1 else DEFAULT_LANGUAGE
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            base, _, topic = str(block.get("intent") or "").partition("/")
            if base == FAQ_INTENT and topic and (block.get("examples") or "").strip():
                topics.setdefault(language, set()).add(topic)
    return topics


def topic_problems(protocols: Iterable, nlu_dir: Path = NLU_DIR) -> list[str]:
    """Each trial FAQ topic, in each of the trial's languages, that the NLU has no examples of."""
    trained = trained_topics(nlu_dir)
    problems = []
    for protocol in protocols:
        for faq in protocol.faqs:
            for language in protocol.languages:
                if faq.topic not in trained.get(language, set()):
                    problems.append(
                        f"{protocol.id}: FAQ topic '{faq.topic}' has no training examples "
                        f"'{FAQ_INTENT}/{faq.topic}' in {language} under data/nlu/"
                    )
    return problems
