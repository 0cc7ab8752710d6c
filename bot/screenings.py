"""Screenings in the store: the engine's answers and verdicts, written as they arrive.

Every function here is one short transaction, so that an answer is on disk before the bot replies
and a patient who leaves halfway leaves a partial screening, not nothing. The functions are
synchronous; the action server calls them in a worker thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import JSON, Text, bindparam, insert, select, type_coerce, update
from sqlalchemy.orm import Session, defer

from bot import crypto
from bot.answers import steroid_dose_in
from bot.db import session_scope
from bot.engine import Answer, Evaluation, Status, dependents, evaluate
from bot.models import AnswerRow, Screening, ScreeningStatus, VerdictRow, utcnow
from bot.protocol import AnswerType, Protocol, Question, get_protocol
from bot.questions import Interpretation, interpret
from bot.sealed import sealed_id_forms, sealed_id_in


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


# Built once (SQLAlchemy then reuses the compiled form): the conversation's latest screening
# that was not started over. Its conversation id and consent wording are not loaded (nothing
# here reads them; each would be one more decryption or copy a call), and reading them raises
# rather than query again.
_CURRENT = (
    select(Screening)
    .options(defer(Screening.conversation_id, raiseload=True),
             defer(Screening.consent_text, raiseload=True))
    .where(
        sealed_id_in(Screening.conversation_id, "conversation"),
        Screening.status != ScreeningStatus.RESTARTED,
    )
    .order_by(Screening.started_at.desc(), Screening.id.desc())
    .limit(1)
)


def _current(session: Session, conversation_id: str) -> Screening | None:
    """The conversation's latest screening that was not started over."""
    return session.execute(
        _CURRENT, {"conversation": sealed_id_forms(conversation_id)}
    ).scalar_one_or_none()


@dataclass(frozen=True)
class _Row:
    """A live answer row: what the engine needs, and (for read-backs) the sealed words."""

    id: int
    question_id: str
    pending: bool
    answer: Answer
    understood: str
    raw_text: str


class _Live:
    """A screening's live rows as one read found them, with what is derived from them: the
    answers the engine judges and (for the last protocol asked) its evaluation."""

    def __init__(self, rows: tuple[_Row, ...]) -> None:
        self.rows = rows
        # Read-only: a snapshot hands it out, and the same object serves the next call.
        self.given: Mapping[str, Answer] = MappingProxyType(_given(rows))
        self._evaluated: tuple[Protocol, Evaluation] | None = None

    def evaluation(self, protocol: Protocol) -> Evaluation:
        found = self._evaluated
        if found is None or found[0] is not protocol:
            found = (protocol, evaluate(protocol, self.given))
            self._evaluated = found
        return found[1]


class _LiveCache:
    """Each screening's live rows, decrypted and parsed once per process.

    Every read still asks the database which rows are live (another process may have answered,
    corrected or erased since), but a row's content never changes once written: a correction
    writes a new row and marks the old one superseded, a confirmed read-back only loses its
    ``pending`` flag, and a key rotation writes new ciphertext of the same text. So a row seen
    before, with the same id, ``pending`` flag and value ciphertext, is taken as it was parsed
    then, and only rows written since are decrypted; when no row changed, the whole
    :class:`_Live` (and its evaluation) is the one from before. An erased screening's entry goes
    when it has not been read for ``IDLE_SECONDS`` or ``KEPT`` others were read since; a change
    of keys empties the cache.
    """

    KEPT = 512
    IDLE_SECONDS = 15 * 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, tuple, _Live, dict[tuple, _Row]]] = (
            OrderedDict()
        )
        self._keyring: object | None = None

    def live(self, screening_id: str, found: Iterable[Any]) -> _Live:
        """The live rows ``found`` (rows of ``_LIVE_ROWS``), parsed."""
        found = list(found)
        keyring = crypto.keyring()
        now = time.monotonic()
        signature = tuple((r.id, r.pending, r.value) for r in found)
        with self._lock:
            if keyring is not self._keyring:
                self._entries.clear()
                self._keyring = keyring
            while self._entries:  # oldest first: drop those idle too long
                seen = next(iter(self._entries.values()))[0]
                if now - seen < self.IDLE_SECONDS:
                    break
                self._entries.popitem(last=False)
            entry = self._entries.get(screening_id)
        if entry is not None and entry[1] == signature:
            live, rows = entry[2], entry[3]
        else:
            known = entry[3] if entry is not None else {}
            rows = {
                key: known.get(key) or _parsed(r)
                for key, r in zip(signature, found, strict=True)
            }
            live = _Live(tuple(rows.values()))
        with self._lock:
            self._entries[screening_id] = (now, signature, live, rows)
            self._entries.move_to_end(screening_id)
            while len(self._entries) > self.KEPT:
                self._entries.popitem(last=False)
        return live


_LIVE_CACHE = _LiveCache()


def _parsed(r: Any) -> _Row:
    """One row of ``_LIVE_ROWS`` decrypted: its value, and for a read-back the words shown."""
    value = None if r.value is None else json.loads(crypto.decrypt_text(r.value))
    return _Row(
        r.id,
        r.question_id,
        r.pending,
        Answer(r.question_id, value, r.unsure, r.exception),
        crypto.decrypt_text(r.understood) if r.pending else "",
        crypto.decrypt_text(r.raw_text) if r.pending else "",
    )


_ANSWERS = AnswerRow.__table__
# The live rows, a plain Core query built once, with their sealed columns as stored (the
# tokens), opened by _LiveCache.
_LIVE_ROWS = (
    select(
        _ANSWERS.c.id,
        _ANSWERS.c.question_id,
        _ANSWERS.c.pending,
        _ANSWERS.c.unsure,
        _ANSWERS.c.exception,
        type_coerce(_ANSWERS.c.value, JSON()).label("value"),  # a JSON string: the token
        type_coerce(_ANSWERS.c.understood, Text()).label("understood"),
        type_coerce(_ANSWERS.c.raw_text, Text()).label("raw_text"),
    )
    .where(_ANSWERS.c.screening_id == bindparam("screening_id"),
           _ANSWERS.c.superseded_at.is_(None))
    .order_by(_ANSWERS.c.id)
)


def _read_live(session: Session, screening: Screening) -> _Live:
    """The screening's answers that are not superseded, given and read back, in their order:
    one query, and what it found parsed once per process (:class:`_LiveCache`)."""
    session.flush()  # the rows this session added or changed, before they are read
    found = session.connection().execute(_LIVE_ROWS, {"screening_id": screening.id}).all()
    return _LIVE_CACHE.live(screening.id, found)


def _live(session: Session, screening: Screening) -> list[_Row]:
    return list(_read_live(session, screening).rows)


def _given(rows: Iterable[_Row]) -> dict[str, Answer]:
    """The answers the engine judges: given and, where read back, confirmed."""
    return {r.question_id: r.answer for r in rows if not r.pending}


def _answers(session: Session, screening: Screening) -> dict[str, Answer]:
    return _given(_live(session, screening))


def _open_readback(rows: list[_Row], evaluation: Evaluation) -> _Row | None:
    """The read-back the patient is asked to confirm: it comes before the engine's next question
    (a correction reads one back for an earlier question), as long as its question still
    applies and is unanswered, and none once the patient is ruled out."""
    if evaluation.status is Status.NOT_ELIGIBLE:
        return None
    answered = {r.question_id for r in rows if not r.pending}
    return next(
        (
            r
            for r in reversed(rows)
            if r.pending
            and r.question_id not in answered
            and evaluation.applies.get(r.question_id) is True
        ),
        None,
    )


def _snapshot(
    session: Session, screening: Screening, protocol: Protocol, live: _Live | None = None
) -> Snapshot:
    """The screening as its live rows (``live`` if this session has just read them) say."""
    live = _read_live(session, screening) if live is None else live
    answers = live.given
    evaluation = live.evaluation(protocol)
    readback = _open_readback(list(live.rows), evaluation)
    pending = None if readback is None else Pending(
        readback.question_id, readback.answer, readback.understood, readback.raw_text
    )
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


_VERDICTS = VerdictRow.__table__
# Built once. The verdicts are plain rows, neither sealed nor needed as objects: read them, add
# the new ones and change those that changed (an answer changes a few), a statement each.
_STORED_VERDICTS = select(
    _VERDICTS.c.id, _VERDICTS.c.criterion_id, _VERDICTS.c.verdict, _VERDICTS.c.patient_specific
).where(_VERDICTS.c.screening_id == bindparam("screening_id"))
_CHANGE_VERDICT = (
    update(_VERDICTS)
    .where(_VERDICTS.c.id == bindparam("verdict_id"))
    .values(verdict=bindparam("verdict"), patient_specific=bindparam("patient_specific"),
            updated_at=bindparam("updated_at"))
)


def _store_evaluation(
    session: Session, screening: Screening, protocol: Protocol, evaluation: Evaluation
) -> None:
    connection = session.connection()
    existing = {
        r.criterion_id: r
        for r in connection.execute(_STORED_VERDICTS, {"screening_id": screening.id})
    }
    now = utcnow()
    added: list[dict] = []
    changed: list[dict] = []
    for result in evaluation.results:
        values = {"verdict": result.verdict.value, "patient_specific": result.patient_specific,
                  "updated_at": now}
        row = existing.get(result.criterion.id)
        if row is None:
            added.append({"screening_id": screening.id, "criterion_id": result.criterion.id,
                          **values})
        elif row.verdict != values["verdict"] or row.patient_specific != values["patient_specific"]:
            changed.append({"verdict_id": row.id, **values})
    if added:
        connection.execute(insert(_VERDICTS), added)
    if changed:
        connection.execute(_CHANGE_VERDICT, changed)
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
        rows = _live(session, screening)
        answers = _given(rows)
        question = protocol.question(question_id)
        if interpretation.at_least and _rules_out(protocol, answers, interpretation.answer):
            # "More than 7 weeks" may be months: a bound never rules out, the site asks.
            interpretation = Interpretation(
                Answer.not_sure(question_id), interpretation.understood
            )
        if not needs_readback(protocol, answers, question, interpretation, typed):
            row = _new_row(question_id, raw_text, interpretation)
            return _apply_answer(session, screening, rows, row)
        replaced = _ids(rows, {question_id}, pending=True)
        previous = answers.get(question_id)
        if previous is not None:
            replaced += _ids(rows, {question_id})
            if previous != interpretation.answer:
                replaced += _ids(rows, dependents(protocol, question_id))
        _supersede(session, replaced)
        _insert(session, screening, _new_row(question_id, raw_text, interpretation), pending=True)
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
        row = _new_row(question_id, raw_text, interpretation)
        return _apply_answer(session, screening, _live(session, screening), row)


def confirm_pending(conversation_id: str) -> Snapshot:
    """The patient said the read-back is right: the pending answer now counts."""
    with session_scope() as session:
        screening = _require_consent(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        live = _read_live(session, screening)
        readback = _open_readback(list(live.rows), live.evaluation(protocol))
        if readback is None:
            return _snapshot(session, screening, protocol, live)
        return _apply_answer(session, screening, list(live.rows), readback)


def discard_pending(conversation_id: str) -> Snapshot | None:
    """The patient said the read-back is wrong: the answer is set aside (kept, superseded)."""
    with session_scope() as session:
        screening = _current(session, conversation_id)
        if screening is None:
            return None
        _supersede(session, [r.id for r in _live(session, screening) if r.pending])
        return _snapshot(session, screening, get_protocol(screening.trial_id))


@dataclass(frozen=True)
class _NewRow:
    """An answer about to be written."""

    question_id: str
    answer: Answer
    understood: str
    raw_text: str


def _new_row(question_id: str, raw_text: str, interpretation: Interpretation) -> _NewRow:
    given = interpretation.answer
    return _NewRow(
        question_id,
        Answer(question_id, given.value, given.unsure, given.exception),
        interpretation.understood,
        raw_text,
    )


_INSERT_ANSWER = insert(_ANSWERS)  # the sealed columns encrypt as they are bound


def _insert(session: Session, screening: Screening, row: _NewRow, pending: bool) -> None:
    session.connection().execute(_INSERT_ANSWER, {
        "screening_id": screening.id,
        "question_id": row.question_id,
        "raw_text": row.raw_text,
        "value": row.answer.value,
        "unsure": row.answer.unsure,
        "exception": row.answer.exception,
        "understood": row.understood,
        "pending": pending,
    })


def _apply_answer(
    session: Session, screening: Screening, rows: list[_Row], row: _NewRow | _Row
) -> Snapshot:
    """Count an answer: a new one (``_NewRow``), or the open read-back (a live ``_Row``)
    confirmed.

    ``rows`` are the live rows this session read: the earlier answer to the question, the
    answers to its follow-ups if it changed and any other read-back for it are set aside.
    """
    protocol = get_protocol(screening.trial_id)
    question_id = row.question_id
    answer = row.answer
    previous = _given(rows).get(question_id)
    replaced = _ids(rows, {question_id})
    if previous is not None and previous != answer:
        replaced += _ids(rows, dependents(protocol, question_id))
    # Any other read-back still open for this question is now answered.
    keep = row.id if isinstance(row, _Row) else None
    replaced += [i for i in _ids(rows, {question_id}, pending=True) if i != keep]
    _supersede(session, replaced)
    if isinstance(row, _Row):
        session.connection().execute(_CONFIRM, {"answer_id": row.id})
    else:
        _insert(session, screening, row, pending=False)
    if screening.status == ScreeningStatus.STOPPED:
        screening.status = ScreeningStatus.IN_PROGRESS
    session.flush()
    _answer_doses_given_with_medicines(session, screening, protocol, answer, row.raw_text)
    snap = _snapshot(session, screening, protocol)
    _store_evaluation(session, screening, protocol, snap.evaluation)
    if snap.evaluation.status is Status.NOT_ELIGIBLE:
        screening.last_question_id = question_id
    return Snapshot(**{**snap.__dict__, "status": screening.status})


def _answer_doses_given_with_medicines(
    session: Session, screening: Screening, protocol: Protocol, answer: Answer, raw_text: str
) -> None:
    """ "pred 10mg and MMF" answers the dose question too, so it is not asked again.

    Only for a dose question that reads this medicines answer, applies now and has no answer.
    """
    question = protocol.question(answer.question_id)
    if question.type is not AnswerType.MEDICATIONS or answer.unsure:
        return
    found = steroid_dose_in(raw_text)
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
            _insert(session, screening, _new_row(dose_q.id, raw_text, understood), pending=False)


def reopen(conversation_id: str, question_id: str) -> Snapshot:
    """Take back an answer (and its follow-ups) so that the question is asked again."""
    with session_scope() as session:
        screening = _require(session, conversation_id)
        protocol = get_protocol(screening.trial_id)
        _supersede(session, _ids(_live(session, screening),
                                 {question_id} | dependents(protocol, question_id)))
        if screening.status in ScreeningStatus.FINISHED:
            screening.status = ScreeningStatus.IN_PROGRESS
        snap = _snapshot(session, screening, protocol)
        _store_evaluation(session, screening, protocol, snap.evaluation)
        return Snapshot(**{**snap.__dict__, "status": screening.status})


def answered_questions(conversation_id: str) -> dict[str, Answer]:
    with session_scope() as session:
        screening = _current(session, conversation_id)
        return {} if screening is None else dict(_answers(session, screening))


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


def _ids(rows: Iterable[_Row], question_ids: set[str], pending: bool = False) -> list[int]:
    """The live answers (or, with ``pending``, the open read-backs) to these questions."""
    return [r.id for r in rows if r.pending is pending and r.question_id in question_ids]


# Built once: a read-back the patient confirmed counts.
_CONFIRM = update(_ANSWERS).where(_ANSWERS.c.id == bindparam("answer_id")).values(pending=False)
# Built once: set these live rows aside.
_SUPERSEDE = (
    update(_ANSWERS)
    .where(_ANSWERS.c.id.in_(bindparam("ids", expanding=True)),
           _ANSWERS.c.superseded_at.is_(None))
    .values(superseded_at=bindparam("now"))
)


def _supersede(session: Session, ids: Iterable[int]) -> None:
    """Mark these live rows superseded, in one statement; the rows stay, so the transcript of
    what the patient said is complete. (The ids come from the live rows this session read.)"""
    ids = sorted(set(ids))
    if ids:
        session.connection().execute(_SUPERSEDE, {"ids": ids, "now": utcnow()})
