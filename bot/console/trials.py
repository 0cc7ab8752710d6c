"""Protocol texts for the console: question and criterion wording, tolerant of a trial file that
was removed since its screenings were stored (the page then shows ids instead of text)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.protocol import Protocol, ProtocolError, all_protocols, get_protocol


@dataclass(frozen=True)
class CriterionText:
    id: str
    label: str  # "I2", "E14"
    plain: str  # in plain words
    text: str  # the protocol's own wording
    for_this_patient: bool = False  # left open by the patient's answers, not a routine check


def protocol_or_none(trial_id: str) -> Protocol | None:
    try:
        return get_protocol(trial_id)
    except ProtocolError:
        return None


def trial_code(trial_id: str) -> str:
    protocol = protocol_or_none(trial_id)
    return protocol.code if protocol else trial_id


def criterion(trial_id: str, criterion_id: str, for_this_patient: bool = False) -> CriterionText:
    protocol = protocol_or_none(trial_id)
    if protocol is not None:
        for c in protocol.criteria:
            if c.id == criterion_id:
                return CriterionText(c.id, c.label, c.plain.get(), c.text, for_this_patient)
    return CriterionText(criterion_id, criterion_id, criterion_id, "", for_this_patient)


def question_text(trial_id: str, question_id: str | None) -> str:
    if question_id is None:
        return "Before the first question"
    protocol = protocol_or_none(trial_id)
    if protocol is not None:
        for q in protocol.questions:
            if q.id == question_id:
                return q.text.get()
    return question_id


def _known_trials() -> tuple[tuple[str, str], ...]:
    try:
        return tuple((p.id, p.code) for p in all_protocols())
    except ProtocolError:
        return ()


def trial_choices(stored: list[str]) -> list[tuple[str, str]]:
    """(id, code) for every trial with a protocol file or with stored data, for filters."""
    codes = dict(_known_trials())
    for trial_id in stored:
        codes.setdefault(trial_id, trial_code(trial_id))
    return sorted(codes.items(), key=lambda item: item[1])
