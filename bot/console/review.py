"""One screening as staff review it: the conversation from the tracker store beside the criteria,
each with the questions it reads, the answers as typed and as understood, and the verdict.

For a monitor, everything a patient or the bot said is scrubbed of email addresses and phone
numbers here, before it reaches a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot import transcripts
from bot.console import masking, trials
from bot.console.formatting import as_utc
from bot.models import AnswerRow, Lead, Screening

Shown = Callable[[str | None], str]

# What a tapped button sends instead of typed text: '/inform{"answer": "yes"}'.
_BUTTON_PAYLOAD = re.compile(r"/[A-Za-z_]+(\{.*\})?", re.DOTALL)


@dataclass(frozen=True)
class AnswerView:
    raw_text: str  # empty when the patient tapped a button rather than typed
    understood: str
    unsure: bool
    answered_at: datetime
    superseded_at: datetime | None = None
    tapped: bool = False


@dataclass(frozen=True)
class QuestionLine:
    question_id: str
    question: str
    answer: AnswerView | None  # None: not asked (yet, or it did not apply)
    corrected: tuple[AnswerView, ...] = ()  # earlier answers the patient took back


@dataclass(frozen=True)
class CriterionLine:
    id: str
    label: str
    kind: str
    plain: str
    text: str
    verdict: str  # met | not_met | needs_confirmation | not_asked
    patient_specific: bool
    site_confirms: bool
    questions: tuple[QuestionLine, ...]


@dataclass(frozen=True)
class Sibling:
    """Another screening in the same conversation (after a restart, or for another trial)."""

    id: str
    started_at: datetime
    status: str


@dataclass(frozen=True)
class Review:
    screening: Screening
    trial_code: str
    last_question: str | None
    lead_id: str | None
    criteria: tuple[CriterionLine, ...]
    other_answers: tuple[QuestionLine, ...]  # answered questions no criterion reads
    transcript: transcripts.Transcript
    siblings: tuple[Sibling, ...]


def _view(row: AnswerRow, shown: Shown) -> AnswerView:
    tapped = bool(_BUTTON_PAYLOAD.fullmatch(row.raw_text.strip()))
    return AnswerView(
        raw_text="" if tapped else shown(row.raw_text),
        tapped=tapped,
        understood=shown(row.understood),
        unsure=row.unsure,
        answered_at=as_utc(row.answered_at),
        superseded_at=as_utc(row.superseded_at) if row.superseded_at else None,
    )


def _question_lines(
    trial_id: str, question_ids: list[str], answers: list[AnswerRow], shown: Shown
) -> tuple[QuestionLine, ...]:
    lines = []
    for qid in question_ids:
        rows = [a for a in answers if a.question_id == qid]
        current = next((a for a in reversed(rows) if a.superseded_at is None), None)
        lines.append(
            QuestionLine(
                question_id=qid,
                question=trials.question_text(trial_id, qid),
                answer=_view(current, shown) if current else None,
                corrected=tuple(_view(a, shown) for a in rows if a.superseded_at is not None),
            )
        )
    return tuple(lines)


def _payload_answer(text: str) -> str | None:
    """The answer a button payload carries ('/inform{"answer": "yes"}' -> "yes"), if any."""
    match = _BUTTON_PAYLOAD.fullmatch(text.strip())
    if not match or not match.group(1):
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    answer = data.get("answer") if isinstance(data, dict) else None
    return str(answer) if isinstance(answer, (str, int, float)) else None


def readable(transcript: transcripts.Transcript) -> transcripts.Transcript:
    """The conversation as the patient saw it: a tapped button shows the button's title (or,
    when the offer is not in the store, the answer it carried); every other payload (the chat
    widget's '/greet{...}' start-up message, '/session_start') was sent by software, not
    typed, and is left out."""
    messages = []
    for m in transcript.messages:
        if m.sender == "patient" and not m.tapped and _BUTTON_PAYLOAD.fullmatch(m.text.strip()):
            answer = _payload_answer(m.text)
            if answer is None:
                continue
            m = replace(m, tapped=answer)
        messages.append(m)
    return replace(transcript, messages=messages)


def load_review(
    session: Session, screening_id: str, sees_contacts: bool, tracker_url: str
) -> Review | None:
    screening = session.execute(
        select(Screening)
        .options(
            selectinload(Screening.answers),
            selectinload(Screening.verdicts),
            selectinload(Screening.lead),
        )
        .where(Screening.id == screening_id)
    ).scalar_one_or_none()
    if screening is None:
        return None
    lead: Lead | None = screening.lead
    known = (lead.email, lead.phone) if lead else ()

    def shown(text: str | None) -> str:
        return (text or "") if sees_contacts else masking.scrub(text, known)

    answers = sorted(screening.answers, key=lambda a: a.id)
    verdicts = {v.criterion_id: v for v in screening.verdicts}
    protocol = trials.protocol_or_none(screening.trial_id)
    criteria: list[CriterionLine] = []
    read: set[str] = set()
    if protocol is not None:
        for c in protocol.criteria:
            qids = list(c.questions())
            read.update(qids)
            verdict = verdicts.get(c.id)
            criteria.append(
                CriterionLine(
                    id=c.id,
                    label=c.label,
                    kind=c.kind.value,
                    plain=c.plain.get(),
                    text=c.text,
                    verdict=verdict.verdict if verdict else "not_asked",
                    patient_specific=bool(verdict and verdict.patient_specific),
                    site_confirms=c.site_confirms,
                    questions=_question_lines(screening.trial_id, qids, answers, shown),
                )
            )
    else:  # the trial file is gone: the stored verdicts, without the protocol's words
        for cid, verdict in sorted(verdicts.items()):
            criteria.append(
                CriterionLine(cid, cid, "", cid, "", verdict.verdict, verdict.patient_specific,
                              False, ())
            )
    answered = list(dict.fromkeys(a.question_id for a in answers))
    other = _question_lines(
        screening.trial_id, [q for q in answered if q not in read], answers, shown
    )

    transcript = readable(transcripts.read(screening.conversation_id, tracker_url))
    if not sees_contacts:
        transcript = replace(
            transcript,
            messages=[
                replace(m, text=shown(m.text), tapped=shown(m.tapped) if m.tapped else None)
                for m in transcript.messages
            ],
        )
    siblings = tuple(
        Sibling(s.id, as_utc(s.started_at), s.status)
        for s in session.execute(
            select(Screening)
            .where(Screening.conversation_id == screening.conversation_id,
                   Screening.id != screening.id)
            .order_by(Screening.started_at)
        ).scalars()
    )
    session.expunge(screening)
    return Review(
        screening=screening,
        trial_code=trials.trial_code(screening.trial_id),
        last_question=(
            trials.question_text(screening.trial_id, screening.last_question_id)
            if screening.last_question_id else None
        ),
        lead_id=lead.id if lead else None,
        criteria=tuple(criteria),
        other_answers=other,
        transcript=transcript,
        siblings=siblings,
    )
