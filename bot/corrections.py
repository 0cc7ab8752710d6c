"""Which earlier answer a correction ("actually I'm 46", "sorry, I meant no") is about."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.answers import normalise
from bot.engine import Answer
from bot.protocol import Protocol, Question
from bot.questions import Interpretation, interpret, recognised

_PREFIX = re.compile(
    r"^(?:(?:oh|oops|sorry|wait|hang on|no|actually|correction|i meant|i mean|i made a mistake|"
    r"my mistake|i was wrong|let me correct that|i said the wrong thing)[\s,.:;!-]*)+",
)


_CHANGE = re.compile(
    r"\b(?:actually|sorry|oops|wait|i meant|i mean|correction|correct|change|wrong|mistake|"
    r"earlier|previous|before|instead)\b"
)


@dataclass(frozen=True)
class Correction:
    question: Question
    # None when the patient named the question but not the new answer: ask it again.
    interpretation: Interpretation | None


def strip_preamble(text: str) -> str:
    return _PREFIX.sub("", normalise(text)).strip()


def is_correction_worded(text: str) -> bool:
    """Whether a message says it corrects something ("actually...", "sorry, I meant...")."""
    return bool(_CHANGE.search(normalise(text)))


def _keyword_hits(question: Question, text: str) -> int:
    return sum(1 for k in question.keywords if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text))


def find_correction(
    protocol: Protocol, answered: Mapping[str, Answer], text: str, language: str = "en"
) -> Correction | None:
    """The answered question the text corrects, with the new answer if the text gives one.

    A question named by its keywords wins; otherwise the text is tried as a new answer to the
    most recent question, then to the only answered question it would fit. None when unclear.
    """
    body = strip_preamble(text)
    questions = [protocol.question(qid) for qid in answered if _exists(protocol, qid)]
    if not questions:
        return None
    hits = {q.id: _keyword_hits(q, body) for q in questions}
    best = max(hits.values())
    if best > 0:
        named = [q for q in questions if hits[q.id] == best]
        if len(named) == 1:
            question = named[0]
            return Correction(question, interpret(question, body, language))
    if body:
        latest = questions[-1]
        understood = interpret(latest, body, language)
        if understood is not None and recognised(understood):
            return Correction(latest, understood)
        fitting = [
            (q, i)
            for q in questions
            if (i := interpret(q, body, language)) is not None and recognised(i)
        ]
        if len(fitting) == 1:
            return Correction(*fitting[0])
    return None


def _exists(protocol: Protocol, question_id: str) -> bool:
    try:
        protocol.question(question_id)
    except KeyError:
        return False
    return True
