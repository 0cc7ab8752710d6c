"""Screenings in the store: the engine's answers and verdicts, written as they arrive.

Every function here is one short transaction, so that an answer is on disk before the bot replies
and a patient who leaves halfway leaves a partial screening, not nothing. The functions are
synchronous; the action server calls them in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.engine import Answer, Evaluation, Status, dependents, evaluate
from bot.models import AnswerRow, Screening, ScreeningStatus, VerdictRow, utcnow
from bot.protocol import Protocol, get_protocol
from bot.questions import Interpretation


@dataclass(frozen=True)
class Snapshot:
    """What an action needs to know about a conversation's screening, after a change."""

    screening_id: str
    trial_id: str
    status: str
    evaluation: Evaluation
    answered: int
    is_minor: bool


def _current(session: Session, conversation_id: str) -> Screening | None:
    """The conversation's latest screening that was not started over."""
    return session.execute(
        select(Screening)
        .where(
            Screening.conversation_id == conversation_id,
            Screening.status != ScreeningStatus.RESTARTED,
        )
        .order_by(Screening.started_at.desc(), Screening.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _answers(session: Session, screening: Screening) -> dict[str, Answer]:
    rows = session.execute(
        select(AnswerRow)
        .where(AnswerRow.screening_id == screening.id, AnswerRow.superseded_at.is_(None))
        .order_by(AnswerRow.id)
    ).scalars()
    return {r.question_id: Answer(r.question_id, r.value, r.unsure) for r in rows}


def _snapshot(session: Session, screening: Screening, protocol: Protocol) -> Snapshot:
    answers = _answers(session, screening)
    return Snapshot(
        screening_id=screening.id,
        trial_id=screening.trial_id,
        status=screening.status,
        evaluation=evaluate(protocol, answers),
        answered=len(answers),
        is_minor=screening.is_minor,
    )


def _store_evaluation(
    session: Session, screening: Screening, protocol: Protocol, evaluation: Evaluation
) -> None:
    existing = {
        v.criterion_id: v
        for v in session.execute(
            select(VerdictRow).where(VerdictRow.screening_id == screening.id)
        ).scalars()
    }
    now = utcnow()
    for result in evaluation.results:
        row = existing.get(result.criterion.id)
        if row is None:
            row = VerdictRow(screening_id=screening.id, criterion_id=result.criterion.id)
            session.add(row)
        if row.verdict != result.verdict.value or row.patient_specific != result.patient_specific:
            row.verdict = result.verdict.value
            row.patient_specific = result.patient_specific
            row.updated_at = now
    # A minor is whoever the protocol's guardian question applies to.
    screening.is_minor = any(
        evaluation.applies.get(q.id) is True for q in protocol.questions if "guardian" in q.flags
    )
    if screening.status in (ScreeningStatus.STOPPED, ScreeningStatus.DECLINED):
        return
    status = {
        Status.IN_PROGRESS: ScreeningStatus.IN_PROGRESS,
        Status.NOT_ELIGIBLE: ScreeningStatus.NOT_ELIGIBLE,
        Status.MAY_QUALIFY: ScreeningStatus.MAY_QUALIFY,
        Status.MAY_QUALIFY_CONFIRM: ScreeningStatus.MAY_QUALIFY_CONFIRM,
    }[evaluation.status]
    screening.status = status
    screening.finished_at = now if evaluation.finished else None
    if evaluation.next_question is not None:
        screening.last_question_id = evaluation.next_question.id


def start(conversation_id: str, trial_id: str, channel: str, language: str = "en") -> Snapshot:
    """The conversation's open screening for this trial, or a new one (status 'started')."""
    protocol = get_protocol(trial_id)
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None or screening.trial_id != protocol.id or screening.status in (
            ScreeningStatus.DECLINED,
            *ScreeningStatus.FINISHED,
        ):
            screening = Screening(
                conversation_id=conversation_id,
                trial_id=protocol.id,
                channel=channel or "unknown",
                language=language,
                status=ScreeningStatus.STARTED,
            )
            session.add(screening)
            session.flush()
        return _snapshot(session, screening, protocol)


def consent(conversation_id: str, wording: str) -> Snapshot:
    """Record the patient's agreement to health questions, with its time and wording."""
    with session_scope() as session:
        screening = _require(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        if screening.consented_at is None:
            screening.consented_at = utcnow()
            screening.consent_text = wording
        if screening.status in (ScreeningStatus.STARTED, ScreeningStatus.STOPPED):
            screening.status = ScreeningStatus.IN_PROGRESS
        snapshot = _snapshot(session, screening, protocol)
        _store_evaluation(session, screening, protocol, snapshot.evaluation)
        return snapshot


def decline(conversation_id: str) -> None:
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is not None and screening.status == ScreeningStatus.STARTED:
            screening.status = ScreeningStatus.DECLINED


def snapshot(conversation_id: str) -> Snapshot | None:
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None:
            return None
        return _snapshot(session, screening, get_protocol(screening.trial_id))


def record_answer(
    conversation_id: str, question_id: str, raw_text: str, interpretation: Interpretation
) -> Snapshot:
    """Write one answer (superseding any earlier one to the same question) and the new verdicts.

    A changed answer can make its follow-ups no longer apply, or change what they mean, so their
    answers are superseded too and asked again if they still apply.
    """
    with session_scope() as session:
        screening = _require(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        previous = _answers(session, screening).get(question_id)
        _supersede(session, screening, {question_id})
        if previous is not None and previous != interpretation.answer:
            _supersede(session, screening, dependents(protocol, question_id))
        session.add(
            AnswerRow(
                screening_id=screening.id,
                question_id=question_id,
                raw_text=raw_text,
                value=interpretation.answer.value,
                unsure=interpretation.answer.unsure,
                understood=interpretation.understood,
            )
        )
        if screening.status == ScreeningStatus.STOPPED:
            screening.status = ScreeningStatus.IN_PROGRESS
        session.flush()
        snap = _snapshot(session, screening, protocol)
        _store_evaluation(session, screening, protocol, snap.evaluation)
        if snap.evaluation.status is Status.NOT_ELIGIBLE:
            screening.last_question_id = question_id
        return Snapshot(**{**snap.__dict__, "status": screening.status})


def reopen(conversation_id: str, question_id: str) -> Snapshot:
    """Take back an answer (and its follow-ups) so that the question is asked again."""
    with session_scope() as session:
        screening = _require(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        _supersede(session, screening, {question_id} | dependents(protocol, question_id))
        if screening.status in ScreeningStatus.FINISHED:
            screening.status = ScreeningStatus.IN_PROGRESS
        session.flush()
        snap = _snapshot(session, screening, protocol)
        _store_evaluation(session, screening, protocol, snap.evaluation)
        return Snapshot(**{**snap.__dict__, "status": screening.status})


def answered_questions(conversation_id: str) -> dict[str, Answer]:
    with session_scope() as session:
        screening = _current(session, conversation_id)
        return {} if screening is None else _answers(session, screening)


def stop(conversation_id: str) -> Snapshot | None:
    """The patient stopped: keep what they said, mark the screening stopped."""
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None:
            return None
        if screening.status in ScreeningStatus.OPEN:
            screening.status = ScreeningStatus.STOPPED
            screening.finished_at = utcnow()
        return _snapshot(session, screening, get_protocol(screening.trial_id))


def restart(conversation_id: str) -> None:
    """Start over: close the current screening as 'restarted'; the next greeting opens a new one."""
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is not None and screening.lead is None:
            screening.status = ScreeningStatus.RESTARTED
            screening.finished_at = screening.finished_at or utcnow()


def mark_crisis_help_shown(conversation_id: str) -> None:
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is not None:
            screening.crisis_help_shown = True


def _require(session: Session, conversation_id: str) -> Screening:
    screening = _current(session, conversation_id)
    if screening is None:
        raise LookupError("no screening for this conversation")
    return screening


def _supersede(session: Session, screening: Screening, question_ids: set[str]) -> None:
    if not question_ids:
        return
    now = utcnow()
    rows = session.execute(
        select(AnswerRow).where(
            AnswerRow.screening_id == screening.id,
            AnswerRow.question_id.in_(question_ids),
            AnswerRow.superseded_at.is_(None),
        )
    ).scalars()
    for row in rows:
        row.superseded_at = now
