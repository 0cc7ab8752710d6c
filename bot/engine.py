"""The eligibility engine: answers so far -> a verdict per criterion, the status, the next question.

It is a pure function of the protocol and the answers, so it can be re-run on every turn, by any
replica, after any correction, and give the same result.

Conditions are read with three-valued logic: a test on an answer that is not in yet, or that the
patient was unsure of, is *unknown* (None). So is a test on an answer that describes one of the
listing's own exceptions ("yes, but only a basal cell skin cancer"), and a medicines test that a
name the bot did not recognise could change: the site decides those, never the bot. A test on a
question that does not apply to this patient (its ``ask_if`` is false) is false: a man is not
excluded by the pregnancy question.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from bot.answers import load_medicines
from bot.protocol import (
    AllOf,
    AnswerType,
    AnyOf,
    Compare,
    Condition,
    Criterion,
    Not,
    Protocol,
    Question,
    condition_questions,
)


class Verdict(str, Enum):
    """Whether the patient satisfies a criterion's requirement.

    For an exclusion criterion, ``met`` means the patient does *not* have the excluding condition.
    """

    MET = "met"
    NOT_MET = "not_met"
    NEEDS_CONFIRMATION = "needs_confirmation"
    NOT_ASKED = "not_asked"


class Status(str, Enum):
    IN_PROGRESS = "in_progress"
    NOT_ELIGIBLE = "not_eligible"
    # Nothing left but the site's routine checks (labs, disease scores measured at a visit).
    MAY_QUALIFY = "may_qualify"
    # The patient's own answers left criteria for the site to confirm.
    MAY_QUALIFY_CONFIRM = "may_qualify_confirm"


UNKNOWN_MEDICINE = "unknown:"  # prefix of a medicines-answer entry the bot did not recognise


@dataclass(frozen=True)
class Answer:
    """One interpreted answer. ``value`` is None when the patient was not sure.

    ``exception`` names one of the question's declared exceptions that the patient described.
    """

    question_id: str
    value: Any
    unsure: bool = False
    exception: str | None = None

    @classmethod
    def not_sure(cls, question_id: str) -> Answer:
        return cls(question_id, None, unsure=True)


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    verdict: Verdict
    # True when the confirmation is asked for by this patient's answers, not only by routine checks.
    patient_specific: bool = False


@dataclass(frozen=True)
class Evaluation:
    results: tuple[CriterionResult, ...]
    status: Status
    next_question: Question | None
    # Whether each question applies to this patient: True, False, or None while unknown.
    applies: Mapping[str, bool | None]
    # Answers given to questions that apply, and questions that may still be asked: progress.
    answered: int = 0
    remaining: int = 0

    @property
    def verdicts(self) -> dict[str, Verdict]:
        return {r.criterion.id: r.verdict for r in self.results}

    @property
    def reasons(self) -> list[Criterion]:
        """The criteria that rule the patient out."""
        return [r.criterion for r in self.results if r.verdict is Verdict.NOT_MET]

    @property
    def to_confirm(self) -> list[Criterion]:
        """Criteria the site must confirm because of this patient's answers."""
        return [
            r.criterion
            for r in self.results
            if r.verdict is Verdict.NEEDS_CONFIRMATION and r.patient_specific
        ]

    @property
    def site_checks(self) -> list[Criterion]:
        """Criteria only the site can measure, whatever the patient said."""
        return [
            r.criterion
            for r in self.results
            if r.verdict is Verdict.NEEDS_CONFIRMATION and not r.patient_specific
        ]

    @property
    def finished(self) -> bool:
        return self.status is not Status.IN_PROGRESS


class _Answers:
    """Answers plus which questions apply, memoised for one evaluation."""

    def __init__(self, protocol: Protocol, answers: Mapping[str, Answer]) -> None:
        self.protocol = protocol
        self.answers = answers
        self._applies: dict[str, bool | None] = {}
        self._classes = {m.id: m.drug_class for m in load_medicines()}

    def applies(self, question: Question) -> bool | None:
        """Whether a question applies: True, False, or None while its ask_if is unknown."""
        if question.id not in self._applies:
            self._applies[question.id] = None  # guards against cycles in ask_if
            result = True if question.ask_if is None else self.test(question.ask_if)
            self._applies[question.id] = result
        return self._applies[question.id]

    def askable(self, question: Question) -> bool:
        return question.id not in self.answers and self.applies(question) is True

    def test(self, cond: Condition) -> bool | None:
        if isinstance(cond, Compare):
            return self._compare(cond)
        if isinstance(cond, Not):
            inner = self.test(cond.part)
            return None if inner is None else not inner
        values = [self.test(p) for p in cond.parts]
        if isinstance(cond, AllOf):
            if any(v is False for v in values):
                return False
            return None if any(v is None for v in values) else True
        assert isinstance(cond, AnyOf)
        if any(v is True for v in values):
            return True
        return None if any(v is None for v in values) else False

    def _compare(self, cond: Compare) -> bool | None:
        question = self.protocol.question(cond.question_id)
        applies = self.applies(question)
        if applies is False:
            return False
        answer = self.answers.get(cond.question_id)
        if answer is None or applies is None:
            return None
        if cond.op == "is_unsure":
            return answer.unsure
        if answer.unsure or answer.exception is not None:
            return None
        value = answer.value
        if question.type is AnswerType.MEDICATIONS:
            return self._medicines_test(cond, value)
        match cond.op:
            case "eq":
                return value == cond.value
            case "ne":
                return value != cond.value
            case "lt":
                return value < cond.value
            case "le":
                return value <= cond.value
            case "gt":
                return value > cond.value
            case "ge":
                return value >= cond.value
            case "in":
                return value in cond.value
        raise ValueError(f"unknown test {cond.op}")

    def _medicines_test(self, cond: Compare, value: list[str]) -> bool | None:
        """A class test on medicines; unknown where an unrecognised name could change it."""
        if cond.op == "is_empty":
            return not value
        known = [mid for mid in value if not str(mid).startswith(UNKNOWN_MEDICINE)]
        unrecognised = len(known) < len(value)
        classes = {self._classes.get(mid) for mid in known}
        wanted = {cond.value} if cond.op == "has_class" else set(cond.value)
        if classes & wanted:
            return True
        return None if unrecognised else False


def _judge(criterion: Criterion, ctx: _Answers) -> CriterionResult:
    not_met = ctx.test(criterion.not_met_if) if criterion.not_met_if else False
    if not_met is True:
        return CriterionResult(criterion, Verdict.NOT_MET)
    pending = any(ctx.askable(ctx.protocol.question(q)) for q in criterion.questions())
    if pending:
        return CriterionResult(criterion, Verdict.NOT_ASKED)
    confirm = ctx.test(criterion.confirm_if) if criterion.confirm_if else False
    if not_met is None or confirm is not False:
        return CriterionResult(criterion, Verdict.NEEDS_CONFIRMATION, patient_specific=True)
    if criterion.site_confirms:
        return CriterionResult(criterion, Verdict.NEEDS_CONFIRMATION)
    return CriterionResult(criterion, Verdict.MET)


def question_order(protocol: Protocol) -> list[Question]:
    """Questions in the order they are asked: those that rule out most patients first.

    A question's weight is the summed ``screen_out_share`` of the criteria it can rule a patient
    out by, directly or by opening a follow-up that can (the sex question opens the pregnancy
    one). A follow-up weighs at least as much as the questions it depends on, so it comes
    straight after them. File order breaks ties.
    """
    knocks: dict[str, set[str]] = {q.id: set() for q in protocol.questions}
    for c in protocol.criteria:
        for qid in condition_questions(c.not_met_if):
            knocks[qid].add(c.id)
    share = {c.id: c.screen_out_share for c in protocol.criteria}
    reach = {
        q.id: knocks[q.id].union(*(knocks[d] for d in dependents(protocol, q.id)))
        for q in protocol.questions
    }
    weight = {qid: sum(share[c] for c in crits) for qid, crits in reach.items()}

    def effective(q: Question, seen: frozenset[str] = frozenset()) -> float:
        parents = [p for p in condition_questions(q.ask_if) if p not in seen]
        inherited = [effective(protocol.question(p), seen | {q.id}) for p in parents]
        return max([weight[q.id], *inherited])

    position = {q.id: i for i, q in enumerate(protocol.questions)}
    ordered = sorted(protocol.questions, key=lambda q: (-round(effective(q), 6), position[q.id]))
    return _place_after_anchors(ordered)


def _place_after_anchors(ordered: list[Question]) -> list[Question]:
    """Move each question with ``ask_after`` straight after its anchor (and the anchor's own
    followers), keeping the rest in order: "is your lupus still active, even with this
    treatment?" belongs next to the treatment questions, whatever it weighs."""
    followers: dict[str, list[Question]] = {}
    for q in ordered:
        if q.ask_after is not None:
            followers.setdefault(q.ask_after, []).append(q)
    placed: list[Question] = []

    def put(q: Question, trail: frozenset[str]) -> None:
        placed.append(q)
        for f in followers.get(q.id, []):
            if f.id not in trail:
                put(f, trail | {f.id})

    anchored = {q.id for group in followers.values() for q in group}
    for q in ordered:
        if q.id not in anchored:
            put(q, frozenset({q.id}))
    # A follower whose anchors form a loop is kept at its own place rather than lost.
    seen = {q.id for q in placed}
    placed.extend(q for q in ordered if q.id not in seen)
    unique: dict[str, Question] = {}
    for q in placed:
        unique.setdefault(q.id, q)
    return list(unique.values())


# Evaluations of recent answer sets, newest last: a turn evaluates the same answers several
# times (validation, the read-back check, the ask action), and a pure function may be reused.
_EVALUATIONS: OrderedDict[tuple[int, tuple], tuple[Protocol, Evaluation]] = OrderedDict()
_EVALUATIONS_KEPT = 256
_evaluations_lock = threading.Lock()


def _frozen(value: Any) -> Any:
    """A hashable form of an answer's value (lists of medicines, mappings); TypeError if none."""
    if isinstance(value, list | tuple):
        return ("seq", tuple(_frozen(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    hash(value)
    return (type(value).__name__, value)


def evaluate(protocol: Protocol, answers: Mapping[str, Answer]) -> Evaluation:
    """Judge every criterion on the answers so far and pick the next question.

    The result for the same protocol object and equal answers is reused (it is immutable)."""
    try:
        key = (id(protocol), tuple(sorted(
            (qid, a.question_id, _frozen(a.value), a.unsure, a.exception)
            for qid, a in answers.items()
        )))
    except TypeError:  # a value with no hashable form: evaluate without the cache
        return _evaluate(protocol, answers)
    with _evaluations_lock:
        found = _EVALUATIONS.get(key)
        if found is not None and found[0] is protocol:
            _EVALUATIONS.move_to_end(key)
            return found[1]
    evaluation = _evaluate(protocol, answers)
    with _evaluations_lock:
        _EVALUATIONS[key] = (protocol, evaluation)
        while len(_EVALUATIONS) > _EVALUATIONS_KEPT:
            _EVALUATIONS.popitem(last=False)
    return evaluation


def _evaluate(protocol: Protocol, answers: Mapping[str, Answer]) -> Evaluation:
    ctx = _Answers(protocol, answers)
    results = tuple(_judge(c, ctx) for c in protocol.criteria)
    applies = {q.id: ctx.applies(q) for q in protocol.questions}
    answered = sum(1 for qid in answers if applies.get(qid) is True)
    remaining = sum(1 for qid, a in applies.items() if a is not False and qid not in answers)

    def result(status: Status, next_q: Question | None = None) -> Evaluation:
        return Evaluation(results, status, next_q, applies, answered, remaining)

    if any(r.verdict is Verdict.NOT_MET for r in results):
        return result(Status.NOT_ELIGIBLE)
    next_q = next((q for q in _ordered(protocol) if ctx.askable(q)), None)
    if next_q is not None:
        return result(Status.IN_PROGRESS, next_q)
    if any(r.verdict is Verdict.NEEDS_CONFIRMATION and r.patient_specific for r in results):
        return result(Status.MAY_QUALIFY_CONFIRM)
    return result(Status.MAY_QUALIFY)


_ORDER_CACHE: dict[int, tuple[Protocol, list[Question]]] = {}


def _ordered(protocol: Protocol) -> Sequence[Question]:
    cached = _ORDER_CACHE.get(id(protocol))
    if cached is None or cached[0] is not protocol:
        cached = (protocol, question_order(protocol))
        _ORDER_CACHE[id(protocol)] = cached
    return cached[1]


def dependents(protocol: Protocol, question_id: str) -> set[str]:
    """Questions whose ask_if reads this one, directly or through others.

    When an answer is corrected, the answers to its follow-ups may no longer apply.
    """
    found: set[str] = set()
    frontier = {question_id}
    while frontier:
        nxt = {
            q.id
            for q in protocol.questions
            if q.id not in found and set(condition_questions(q.ask_if)) & frontier
        }
        found |= nxt
        frontier = nxt
    return found
