"""What a lead is in a few lines, computed in one place for every view of it (the console's queue
and lead page, its CSV export, ``python -m bot leads``): the criteria the site must confirm, and
the patient's age, sex, medicines and the answers behind those criteria.

The list to confirm is every criterion the screening marked "site to confirm", the ones only a
clinician can measure (laboratory tests, disease scores) and the ones this patient's answers left
open alike, in the protocol's order: the transcript's criteria table marks the same ones. (The
lead's stored ``to_confirm`` holds only the patient-specific ones; it is read too, for a lead
whose screening's verdicts are gone.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.protocol import Protocol, ProtocolError, get_protocol

NEEDS_CONFIRMATION = "needs_confirmation"
AGE_QUESTION = "age"
SEX_QUESTION = "sex"
MEDICINE_QUESTIONS = ("lupus_meds", "steroid_dose")


@dataclass(frozen=True)
class KeyAnswer:
    question_id: str
    question: str
    understood: str
    unsure: bool


@dataclass(frozen=True)
class Summary:
    age: str | None
    sex: str | None
    medicines: tuple[str, ...]  # as understood: "mycophenolate (CellCept)", "prednisone 10 mg"
    answers: tuple[KeyAnswer, ...]  # the answers the criteria to confirm read
    to_confirm: tuple[str, ...]  # criterion ids, in the protocol's order
    for_this_patient: frozenset[str]  # those left open by this patient's answers


def _protocol(trial_id: str) -> Protocol | None:
    try:
        return get_protocol(trial_id)
    except (ProtocolError, OSError, KeyError, ValueError):
        return None


def to_confirm(trial_id: str, verdicts: Iterable[Any], stored: Iterable[str] = ()) -> list[str]:
    """Every criterion for the site to confirm: the verdicts marked so, with ``stored`` (a lead's
    ``to_confirm``), in the protocol's order; ids the protocol lacks come last, sorted."""
    ids = {v.criterion_id for v in verdicts if v.verdict == NEEDS_CONFIRMATION}
    ids.update(stored or ())
    protocol = _protocol(trial_id)
    order = [c.id for c in protocol.criteria] if protocol else []
    known = [cid for cid in order if cid in ids]
    return known + sorted(ids - set(known))


def for_this_patient(verdicts: Iterable[Any], stored: Iterable[str] = ()) -> set[str]:
    """The criteria to confirm that this patient's answers left open (not routine checks)."""
    return {
        v.criterion_id for v in verdicts
        if v.verdict == NEEDS_CONFIRMATION and v.patient_specific
    } | set(stored or ())


def summarise(lead: Any) -> Summary:
    """The summary of a Lead (its screening's answers and verdicts loaded)."""
    screening = lead.screening
    confirm = to_confirm(lead.trial_id, screening.verdicts, lead.to_confirm or [])
    current = {
        a.question_id: a
        for a in sorted(screening.answers, key=lambda a: a.id)
        if a.superseded_at is None
    }
    protocol = _protocol(lead.trial_id)

    def question_text(qid: str) -> str:
        if protocol is None:
            return qid
        try:
            return protocol.question(qid).text.get()
        except (KeyError, ProtocolError):
            return qid

    def understood(qid: str) -> str | None:
        row = current.get(qid)
        return row.understood if row is not None else None

    read: list[str] = []
    if protocol is not None:
        criteria = {c.id: c for c in protocol.criteria}
        for cid in confirm:
            if cid in criteria:
                read.extend(q for q in criteria[cid].questions() if q not in read)
    shown_apart = {AGE_QUESTION, SEX_QUESTION, *MEDICINE_QUESTIONS}
    answers = tuple(
        KeyAnswer(qid, question_text(qid), current[qid].understood, current[qid].unsure)
        for qid in read
        if qid in current and qid not in shown_apart
    )
    medicines = tuple(
        text for text in (understood(q) for q in MEDICINE_QUESTIONS) if text
    )
    return Summary(
        age=understood(AGE_QUESTION),
        sex=understood(SEX_QUESTION),
        medicines=medicines,
        answers=answers,
        to_confirm=tuple(confirm),
        for_this_patient=frozenset(for_this_patient(screening.verdicts, lead.to_confirm or [])),
    )
