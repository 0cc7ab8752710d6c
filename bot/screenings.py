"""Screenings in the store: the engine's answers and verdicts, written as they arrive.

Every function here is one short transaction, so that an answer is on disk before the bot replies
and a patient who leaves halfway leaves a partial screening, not nothing. The functions are
synchronous; the action server calls them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.answers import steroid_dose_in
from bot.db import session_scope
from bot.engine import Answer, Evaluation, Status, dependents, evaluate
from bot.models import AnswerRow, Screening, ScreeningStatus, VerdictRow, utcnow
from bot.protocol import AnswerType, Protocol, Question, get_protocol
from bot.questions import Interpretation, interpret


@dataclass(frozen=True)
class Pending:
    """A typed answer read back to the patient and awaiting their "yes, that's right"."""

    question_id: str
    answer: Answer
    understood: str
    raw_text: str


@dataclass(frozen=True)
class Snapshot:
    """What an action needs to know about a conversation's screening, after a change."""

    screening_id: str
    trial_id: str
    status: str
    evaluation: Evaluation
    answered: int
    is_minor: bool
    # The read-back awaiting the patient's confirmation: asked before the engine's next question.
    pending: Pending | None = None
    # The answers the engine judged, by question id: the context later answers are read in.
    answers: Mapping[str, Answer] = field(default_factory=dict)
    # Whether the patient agreed to health questions: none is asked or stored before.
    consented: bool = False

    @property
    def asking(self) -> Question | None:
        """The question the patient is answering now: the read-back's, else the engine's next."""
        if self.pending is not None:
            return get_protocol(self.trial_id).question(self.pending.question_id)
        return self.evaluation.next_question


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


def _live_rows(session: Session, screening: Screening, pending: bool) -> list[AnswerRow]:
    return list(
        session.execute(
            select(AnswerRow)
            .where(
                AnswerRow.screening_id == screening.id,
                AnswerRow.superseded_at.is_(None),
                AnswerRow.pending.is_(pending),
            )
            .order_by(AnswerRow.id)
        ).scalars()
    )


def _row_answer(row: AnswerRow) -> Answer:
    return Answer(row.question_id, row.value, row.unsure, row.exception)


def _answers(session: Session, screening: Screening) -> dict[str, Answer]:
    """The answers the engine judges: given and, where read back, confirmed."""
    return {r.question_id: _row_answer(r) for r in _live_rows(session, screening, False)}


def _snapshot(session: Session, screening: Screening, protocol: Protocol) -> Snapshot:
    answers = _answers(session, screening)
    evaluation = evaluate(protocol, answers)
    # An open read-back comes before the engine's next question (a correction reads one back
    # for an earlier question), as long as its question still applies and is unanswered.
    pending = next(
        (
            Pending(r.question_id, _row_answer(r), r.understood, r.raw_text)
            for r in reversed(_live_rows(session, screening, True))
            if r.question_id not in answers and evaluation.applies.get(r.question_id) is True
        ),
        None,
    )
    if evaluation.status is Status.NOT_ELIGIBLE:
        pending = None
    return Snapshot(
        screening_id=screening.id,
        trial_id=screening.trial_id,
        status=screening.status,
        evaluation=evaluation,
        answered=len(answers),
        is_minor=screening.is_minor,
        pending=pending,
        answers=answers,
        consented=screening.consented_at is not None,
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
        else:
            screening.language = language  # a patient who came back in another language
        return _snapshot(session, screening, protocol)


def set_language(conversation_id: str, language: str) -> bool:
    """Keep the language the patient switched to on their latest screening, so the study team
    calls them in it and their lead's email copy is written in it. False if there is none."""
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None:
            return False
        screening.language = language
        return True


def consent(conversation_id: str, wording: str, version: str | None = None) -> Snapshot:
    """Record the patient's agreement to health questions: its time, words and their version.

    The first agreement is the screening's consent; a "yes, carry on" later does not replace it.
    """
    with session_scope() as session:
        screening = _require(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        if screening.consented_at is None:
            screening.consented_at = utcnow()
            screening.consent_text = wording
            screening.consent_version = version
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


def needs_readback(
    protocol: Protocol,
    answers: Mapping[str, Answer],
    question: Question,
    interpretation: Interpretation,
    typed: bool,
) -> bool:
    """Whether the bot must say what it understood before this answer counts.

    A typed answer that would end the screening is read back first, and so is every typed
    medicines list (names are where misreadings hide). A tapped button is exact.
    """
    if not typed:
        return False
    if question.type is AnswerType.MEDICATIONS and not interpretation.answer.unsure:
        return True
    return _rules_out(protocol, answers, interpretation.answer)


def _rules_out(protocol: Protocol, answers: Mapping[str, Answer], answer: Answer) -> bool:
    return evaluate(protocol, {**answers, answer.question_id: answer}).status is Status.NOT_ELIGIBLE


def take_answer(
    conversation_id: str,
    question_id: str,
    raw_text: str,
    interpretation: Interpretation,
    typed: bool,
) -> Snapshot:
    """A new answer to a question: recorded, or kept pending a read-back (:func:`needs_readback`).

    Either way it is on disk before the bot replies. A correction that is to be read back sets
    the earlier answer aside (kept, superseded), so the question is asked as the read-back.
    """
    with session_scope() as session:
        screening = _require_consent(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        answers = _answers(session, screening)
        question = protocol.question(question_id)
        if interpretation.at_least and _rules_out(protocol, answers, interpretation.answer):
            # "More than 7 weeks" may be months: a bound never rules out, the site asks.
            interpretation = Interpretation(
                Answer.not_sure(question_id), interpretation.understood
            )
        if not needs_readback(protocol, answers, question, interpretation, typed):
            row = _new_row(screening, question_id, raw_text, interpretation, pending=False)
            return _apply_answer(session, screening, row)
        previous = answers.get(question_id)
        if previous is not None:
            _supersede(session, screening, {question_id})
            if previous != interpretation.answer:
                _supersede(session, screening, dependents(protocol, question_id))
        _supersede(session, screening, {question_id}, pending=True)
        session.add(_new_row(screening, question_id, raw_text, interpretation, pending=True))
        session.flush()
        snap = _snapshot(session, screening, protocol)
        _store_evaluation(session, screening, protocol, snap.evaluation)
        return Snapshot(**{**snap.__dict__, "status": screening.status})


def record_answer(
    conversation_id: str, question_id: str, raw_text: str, interpretation: Interpretation
) -> Snapshot:
    """Write one answer (superseding any earlier one to the same question) and the new verdicts.

    A changed answer can make its follow-ups no longer apply, or change what they mean, so their
    answers are superseded too and asked again if they still apply.
    """
    with session_scope() as session:
        screening = _require_consent(session, conversation_id)
        row = _new_row(screening, question_id, raw_text, interpretation, pending=False)
        return _apply_answer(session, screening, row)


def confirm_pending(conversation_id: str) -> Snapshot:
    """The patient said the read-back is right: the pending answer now counts."""
    with session_scope() as session:
        screening = _require_consent(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        pending = _snapshot(session, screening, protocol).pending
        if pending is None:
            return _snapshot(session, screening, protocol)
        row = session.execute(
            select(AnswerRow).where(
                AnswerRow.screening_id == screening.id,
                AnswerRow.question_id == pending.question_id,
                AnswerRow.pending.is_(True),
                AnswerRow.superseded_at.is_(None),
            ).order_by(AnswerRow.id.desc()).limit(1)
        ).scalar_one()
        return _apply_answer(session, screening, row, already_added=True)


def discard_pending(conversation_id: str) -> Snapshot | None:
    """The patient said the read-back is wrong: the answer is set aside (kept, superseded)."""
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None:
            return None
        pending_ids = {r.question_id for r in _live_rows(session, screening, True)}
        _supersede(session, screening, pending_ids, pending=True)
        session.flush()
        return _snapshot(session, screening, get_protocol(screening.trial_id))


def _new_row(
    screening: Screening,
    question_id: str,
    raw_text: str,
    interpretation: Interpretation,
    pending: bool,
) -> AnswerRow:
    return AnswerRow(
        screening_id=screening.id,
        question_id=question_id,
        raw_text=raw_text,
        value=interpretation.answer.value,
        unsure=interpretation.answer.unsure,
        exception=interpretation.answer.exception,
        understood=interpretation.understood,
        pending=pending,
    )


def _apply_answer(
    session: Session, screening: Screening, row: AnswerRow, already_added: bool = False
) -> Snapshot:
    protocol = get_protocol(screening.trial_id)
    question_id = row.question_id
    previous = _answers(session, screening).get(question_id)
    _supersede(session, screening, {question_id})
    if previous is not None and previous != _row_answer(row):
        _supersede(session, screening, dependents(protocol, question_id))
    # Any other read-back still open for this question is now answered.
    _supersede(session, screening, {question_id}, pending=True, keep=row)
    row.pending = False
    if not already_added:
        session.add(row)
    if screening.status == ScreeningStatus.STOPPED:
        screening.status = ScreeningStatus.IN_PROGRESS
    session.flush()
    _answer_doses_given_with_medicines(session, screening, protocol, row)
    snap = _snapshot(session, screening, protocol)
    _store_evaluation(session, screening, protocol, snap.evaluation)
    if snap.evaluation.status is Status.NOT_ELIGIBLE:
        screening.last_question_id = question_id
    return Snapshot(**{**snap.__dict__, "status": screening.status})


def _answer_doses_given_with_medicines(
    session: Session, screening: Screening, protocol: Protocol, row: AnswerRow
) -> None:
    """ "pred 10mg and MMF" answers the dose question too, so it is not asked again.

    Only for a dose question that reads this medicines answer, applies now and has no answer.
    """
    question = protocol.question(row.question_id)
    if question.type is not AnswerType.MEDICATIONS or row.unsure:
        return
    found = steroid_dose_in(row.raw_text)
    if found is None:
        return
    steroid, mg = found
    answers = _answers(session, screening)
    applies = evaluate(protocol, answers).applies
    medicines = {question.id: Answer(question.id, [steroid.id])}
    for dose_q in protocol.questions:
        if dose_q.medicines_question != question.id or dose_q.id in answers:
            continue
        if applies.get(dose_q.id) is not True:
            continue
        understood = interpret(dose_q, f"{mg:g} mg a day", screening.language, medicines)
        if understood is not None:
            session.add(_new_row(screening, dose_q.id, row.raw_text, understood, pending=False))
    session.flush()


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


class ConsentMissing(LookupError):
    """A health answer for a screening whose consent was never recorded: it is not stored."""


def _require(session: Session, conversation_id: str) -> Screening:
    screening = _current(session, conversation_id)
    if screening is None:
        raise LookupError("no screening for this conversation")
    return screening


def _require_consent(session: Session, conversation_id: str) -> Screening:
    """The screening, if the patient agreed to health questions; else ConsentMissing."""
    screening = _require(session, conversation_id)
    if screening.consented_at is None:
        raise ConsentMissing("no consent recorded for this screening")
    return screening


def _supersede(
    session: Session,
    screening: Screening,
    question_ids: set[str],
    pending: bool = False,
    keep: AnswerRow | None = None,
) -> None:
    """Mark the live answers (or, with ``pending``, the open read-backs) to these questions as
    superseded; the rows stay, so the transcript of what the patient said is complete."""
    if not question_ids:
        return
    now = utcnow()
    rows = session.execute(
        select(AnswerRow).where(
            AnswerRow.screening_id == screening.id,
            AnswerRow.question_id.in_(question_ids),
            AnswerRow.superseded_at.is_(None),
            AnswerRow.pending.is_(pending),
        )
    ).scalars()
    for row in rows:
        if row is not keep:
            row.superseded_at = now
