"""Patients' answers, read as a careful study coordinator would: measured on a corpus, not by feel.

``tests/corpus/answers_<language>_*.yml`` holds patient replies written fresh for this corpus (in
English, and in Chinese as patients type it on WeChat), each with the
question it answers, the reading a coordinator would take from it and the verdict that reading
leads to under the listing. For every case the bot interprets the reply (after the case's earlier
answers, as the conversation would have them), puts it into a baseline patient whose every other
answer passes, and the engine judges the criteria that read this question:

- any criterion not met: ``knockout``;
- any criterion the site must confirm because of this patient's answers: ``confirm``;
- otherwise ``pass``; a reply the bot did not understand (``interpret`` returned None): ``reask``.

A case is read correctly when the interpretation matches the expected one (or an ``also_ok``
alternative) and the verdict is that reading's verdict. The suite fails on any false knockout (a
knockout where no acceptable reading is one) and when fewer than 97% of the cases are read
correctly, in each language. The report (accuracy per language, a table per question, every miss)
is printed (``pytest -s``) and written to ``results/answer_corpus.txt``;
``scripts/answer_corpus_report.py`` prints it without pytest.

``expect`` keys:
- ``reask: true``: the bot should ask again (not understood);
- ``unsure: true``: the patient does not know, or hedges: the site confirms;
- ``exception: <id>``: one of the exceptions the question declares;
- ``value``: the answer's value: "yes"/"no", a choice id, or a number (age in years, dose in mg/day
  of prednisone equivalent, duration in days), with ``tolerance`` (default 2%, at least 0.05);
- ``at_least`` / ``at_most``: bounds on a number, for vague amounts ("over a year");
- ``medicines``: the medicine ids named as taken (order-insensitive; other medicines that are not
  lupus treatment may be read as well), with ``unknown``: names that must be reported as not
  recognised. A medicines answer with no ``unknown`` key must report none.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.answers import load_medicines
from bot.engine import Answer, Verdict, evaluate
from bot.protocol import AnswerType, Protocol, get_protocol
from bot.questions import Interpretation, interpret

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
RESULTS_FILE = Path(__file__).resolve().parent.parent / "results" / "answer_corpus.txt"
TRIAL = "NCT06675422"
LANGUAGE = "en"
# Cases per language, and per question of the protocol in each language.
MIN_CASES = {"en": 600, "zh": 300}
MIN_CASES_PER_QUESTION = {"en": 12, "zh": 6}
TARGET_ACCURACY = 0.97
_FILE_LANGUAGE = re.compile(r"answers_([a-z]{2})_")

VERDICTS = ("knockout", "confirm", "pass", "reask")
EXPECT_KEYS = frozenset(
    {"value", "tolerance", "at_least", "at_most", "unsure", "exception", "medicines", "unknown",
     "reask"}
)
CASE_KEYS = frozenset({"q", "text", "context", "expect", "verdict", "also_ok"})
# Classes of lupus treatment: a medicine of these classes the patient did not name is a misreading.
# Others (vitamin D, omeprazole) may be read or not: no rule reads them.
LUPUS_TREATMENT_CLASSES = frozenset(
    {"glucocorticoid", "immunosuppressant", "biologic", "antimalarial"}
)
UNKNOWN_PREFIX = "unknown:"

# The baseline patient: a 40-year-old woman on prednisone 10 mg a day and mycophenolate for a
# year, doses stable, lupus active with symptoms and antibodies, "no" to every exclusion.
BASELINE_YES = frozenset(
    {"diagnosis", "guardian", "guardian_agrees", "dose_stable", "lupus_active", "symptoms",
     "antibodies"}
)
BASELINE_VALUES: Mapping[str, Any] = {
    "age": 40.0,
    "sex": "female",
    "lupus_meds": ["prednisone", "mycophenolate_mofetil"],
    "steroid_dose": 10.0,
    "treatment_duration": 365.25,
}


@dataclass(frozen=True)
class Reading:
    """One acceptable reading of a reply and the verdict it leads to."""

    expect: Mapping[str, Any]
    verdict: str


@dataclass(frozen=True)
class Case:
    where: str  # file:line, for the report
    question: str
    text: str
    context: Mapping[str, str]
    readings: tuple[Reading, ...]  # the coordinator's reading first, then the also_ok ones
    language: str = LANGUAGE  # the conversation's language

    @property
    def expected(self) -> Reading:
        return self.readings[0]


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: str  # the bot's reading, in words
    verdict: str
    correct: bool
    error: str | None = None

    @property
    def false_knockout(self) -> bool:
        readings = self.case.readings
        return self.verdict == "knockout" and all(r.verdict != "knockout" for r in readings)


@dataclass
class CorpusRun:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(o.correct for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    @property
    def false_knockouts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.false_knockout]

    def languages(self) -> list[str]:
        return sorted({o.case.language for o in self.outcomes}, key=lambda x: (x != LANGUAGE, x))

    def of_language(self, language: str) -> CorpusRun:
        return CorpusRun([o for o in self.outcomes if o.case.language == language])


# ---- loading ------------------------------------------------------------------------------------


class CorpusError(ValueError):
    """A corpus case that is malformed, with its place."""


def _check_expect(expect: Any, where: str) -> dict[str, Any]:
    if not isinstance(expect, dict) or not expect:
        raise CorpusError(f"{where}: expect must be a non-empty mapping")
    unknown = set(expect) - EXPECT_KEYS - {"verdict"}
    if unknown:
        raise CorpusError(f"{where}: unknown expect keys {sorted(unknown)}")
    value = expect.get("value")
    if isinstance(value, bool):
        raise CorpusError(f"{where}: value {value!r} is a YAML boolean; quote \"yes\" and \"no\"")
    return dict(expect)


def _case(raw: Any, where: str, language: str = LANGUAGE) -> Case:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a case must be a mapping")
    extra = set(raw) - CASE_KEYS
    if extra:
        raise CorpusError(f"{where}: unknown keys {sorted(extra)}")
    for key in ("q", "text", "expect", "verdict"):
        if key not in raw:
            raise CorpusError(f"{where}: missing '{key}'")
    if not isinstance(raw["text"], str) or not raw["text"].strip():
        raise CorpusError(f"{where}: text must be a non-empty string")
    verdict = raw["verdict"]
    if verdict not in VERDICTS:
        raise CorpusError(f"{where}: verdict must be one of {VERDICTS}, not {verdict!r}")
    expect = _check_expect(raw["expect"], where)
    if "verdict" in expect:
        raise CorpusError(f"{where}: the verdict goes beside expect, not in it")
    readings = [Reading(expect, verdict)]
    for i, alt in enumerate(raw.get("also_ok") or []):
        alt = _check_expect(alt, f"{where}.also_ok[{i}]")
        alt_verdict = alt.pop("verdict", verdict)
        if alt_verdict not in VERDICTS:
            raise CorpusError(f"{where}.also_ok[{i}]: bad verdict {alt_verdict!r}")
        readings.append(Reading(alt, alt_verdict))
    for r in readings:
        if bool(r.expect.get("reask")) != (r.verdict == "reask"):
            raise CorpusError(f"{where}: 'reask: true' and verdict 'reask' go together")
    context = raw.get("context") or {}
    if not isinstance(context, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in context.items()
    ):
        raise CorpusError(f"{where}: context maps question ids to replies as typed")
    return Case(where, str(raw["q"]), raw["text"], dict(context), tuple(readings), language)


def load_corpus(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case of every ``answers_<language>_*.yml`` file, in file order."""
    cases: list[Case] = []
    for path in sorted(directory.glob("answers_*.yml")):
        named = _FILE_LANGUAGE.match(path.name)
        if named is None:
            raise CorpusError(f"{path.name}: name it answers_<language>_<topic>.yml")
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
        if node is None or not isinstance(data, list):
            raise CorpusError(f"{path.name}: expected a list of cases")
        for item, raw in zip(node.value, data, strict=True):
            cases.append(
                _case(raw, f"{path.name}:{item.start_mark.line + 1}", named.group(1))
            )
    return cases


# ---- running ------------------------------------------------------------------------------------


def baseline_answers(protocol: Protocol) -> dict[str, Answer]:
    """The baseline patient's answers to every question of the protocol."""
    answers: dict[str, Answer] = {}
    for q in protocol.questions:
        if q.id in BASELINE_VALUES:
            value: Any = BASELINE_VALUES[q.id]
        elif q.type is AnswerType.YES_NO:
            value = "yes" if q.id in BASELINE_YES else "no"
        else:
            raise CorpusError(f"no baseline answer for question {q.id} ({q.type.value})")
        answers[q.id] = Answer(q.id, value)
    return answers


def verdict_on(protocol: Protocol, question_id: str, answers: Mapping[str, Answer]) -> str:
    """The verdict of the criteria that read ``question_id``, for these answers."""
    evaluation = evaluate(protocol, answers)
    reading = [r for r in evaluation.results if question_id in r.criterion.questions()]
    if any(r.verdict is Verdict.NOT_MET for r in reading):
        return "knockout"
    if any(r.verdict is Verdict.NEEDS_CONFIRMATION and r.patient_specific for r in reading):
        return "confirm"
    return "pass"


@lru_cache(maxsize=1)
def _classes() -> dict[str, str]:
    return {m.id: m.drug_class for m in load_medicines()}


def _key(name: str) -> str:
    return re.sub(r"[^\w]+", "", name.lower())


def _medicines_match(expect: Mapping[str, Any], value: Sequence[str]) -> bool:
    known = [str(v) for v in value if not str(v).startswith(UNKNOWN_PREFIX)]
    unknown = [str(v)[len(UNKNOWN_PREFIX):] for v in value if str(v).startswith(UNKNOWN_PREFIX)]
    wanted = set(expect["medicines"])
    if not wanted <= set(known):
        return False
    if any(_classes().get(m) in LUPUS_TREATMENT_CLASSES for m in set(known) - wanted):
        return False
    wanted_unknown = [_key(n) for n in expect.get("unknown", [])]
    if len(unknown) != len(wanted_unknown):
        return False
    got_unknown = [_key(n) for n in unknown]
    return all(any(w in g or g in w for g in got_unknown) for w in wanted_unknown)


def _number_match(expect: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return False
    if "value" in expect:
        want = float(expect["value"])
        tolerance = float(expect.get("tolerance", max(0.05, abs(want) * 0.02)))
        if abs(value - want) > tolerance:
            return False
    if "at_least" in expect and value < float(expect["at_least"]):
        return False
    return not ("at_most" in expect and value > float(expect["at_most"]))


def matches(expect: Mapping[str, Any], interpretation: Interpretation | None) -> bool:
    """Whether the bot's interpretation is the reading ``expect`` describes."""
    if expect.get("reask"):
        return interpretation is None
    if interpretation is None:
        return False
    answer = interpretation.answer
    if expect.get("unsure"):
        return answer.unsure
    if answer.unsure:
        return False
    exception = getattr(answer, "exception", None)
    if "exception" in expect:
        return exception == expect["exception"]
    if exception is not None:
        return False
    if "medicines" in expect:
        return isinstance(answer.value, list) and _medicines_match(expect, answer.value)
    want = expect.get("value")
    if isinstance(want, str):
        return answer.value == want
    return _number_match(expect, answer.value)


def describe_reading(interpretation: Interpretation | None) -> str:
    if interpretation is None:
        return "not understood (asks again)"
    answer = interpretation.answer
    if answer.unsure:
        return "unsure"
    exception = getattr(answer, "exception", None)
    if exception is not None:
        return f"exception {exception}"
    value = answer.value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _describe_expect(expect: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in expect.items())


def run_case(protocol: Protocol, case: Case, baseline: Mapping[str, Answer]) -> Outcome:
    try:
        question = protocol.question(case.question)
    except KeyError:
        return Outcome(case, "-", "reask", False, f"no question '{case.question}' in the protocol")
    answers = {k: v for k, v in baseline.items() if k != case.question}
    for qid, text in case.context.items():
        try:
            earlier = protocol.question(qid)
        except KeyError:
            missing = f"context question '{qid}' not in the protocol"
            return Outcome(case, "-", "reask", False, missing)
        read = interpret(earlier, text, case.language, answers)
        if read is None:
            return Outcome(case, "-", "reask", False, f"context {qid}: {text!r} not understood")
        answers[qid] = read.answer
    interpretation = interpret(question, case.text, case.language, answers)
    if interpretation is None:
        verdict = "reask"
    else:
        answers[case.question] = interpretation.answer
        verdict = verdict_on(protocol, case.question, answers)
        if interpretation.at_least and verdict == "knockout":
            # As the conversation does (bot.screenings.take_answer): "more than 7 weeks" may be
            # months, so a bound never rules out; the site asks.
            answers[case.question] = Answer.not_sure(case.question)
            verdict = verdict_on(protocol, case.question, answers)
    correct = any(
        r.verdict == verdict and matches(r.expect, interpretation) for r in case.readings
    )
    return Outcome(case, describe_reading(interpretation), verdict, correct)


def run_corpus(protocol: Protocol | None = None, cases: Sequence[Case] | None = None) -> CorpusRun:
    protocol = protocol or get_protocol(TRIAL)
    cases = load_corpus() if cases is None else cases
    baseline = baseline_answers(protocol)
    return CorpusRun([run_case(protocol, c, baseline) for c in cases])


def format_report(run: CorpusRun) -> str:
    """The report of each language in turn."""
    return "\n".join(_format_language(run.of_language(lang), lang) for lang in run.languages())


def _format_language(run: CorpusRun, language: str) -> str:
    total = len(run.outcomes)
    correct = sum(o.correct for o in run.outcomes)
    lines = [
        f"Answer corpus ({TRIAL}, {language}): {total} answers, {correct} read as a coordinator "
        f"would: {run.accuracy:.1%} (target {TARGET_ACCURACY:.0%}); "
        f"false knockouts: {len(run.false_knockouts)} (target 0)",
        "",
        f"{'question':<22}{'cases':>6}{'right':>7}{'accuracy':>10}{'false KO':>10}",
    ]
    by_question: dict[str, list[Outcome]] = {}
    for o in run.outcomes:
        by_question.setdefault(o.case.question, []).append(o)
    for qid, outs in by_question.items():
        right = sum(o.correct for o in outs)
        fko = sum(o.false_knockout for o in outs)
        lines.append(f"{qid:<22}{len(outs):>6}{right:>7}{right / len(outs):>10.1%}{fko:>10}")
    verdicts = Counter(o.case.expected.verdict for o in run.outcomes)
    lines += ["", "expected verdicts: " + ", ".join(f"{v} {verdicts[v]}" for v in VERDICTS)]
    lines += ["", f"Misses ({len(run.misses)}), false knockouts first:"]
    for o in sorted(run.misses, key=lambda o: not o.false_knockout):
        flag = "  FALSE KNOCKOUT" if o.false_knockout else ""
        lines.append(f"- [{o.case.where}] {o.case.question}: {o.case.text!r}{flag}")
        if o.case.context:
            lines.append(f"    context: {dict(o.case.context)}")
        exp = o.case.expected
        lines.append(f"    expected: {_describe_expect(exp.expect)} -> {exp.verdict}")
        for alt in o.case.readings[1:]:
            lines.append(f"    also ok:  {_describe_expect(alt.expect)} -> {alt.verdict}")
        if o.error:
            lines.append(f"    error: {o.error}")
        else:
            lines.append(f"    got:      {o.got} -> {o.verdict}")
    return "\n".join(lines) + "\n"


def write_report(run: CorpusRun, path: Path = RESULTS_FILE) -> str:
    report = format_report(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report, encoding="utf-8")
    return report


# ---- tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return load_corpus()


@pytest.fixture(scope="module")
def corpus_run(protocol: Protocol, corpus: list[Case]) -> CorpusRun:
    run = run_corpus(protocol, corpus)
    print("\n" + write_report(run))
    return run


@pytest.mark.parametrize("language", sorted(MIN_CASES))
def test_the_corpus_has_enough_answers_in_each_language_for_every_question(
    protocol: Protocol, corpus: list[Case], language: str
) -> None:
    """At least 600 English answers and 12 for every question; 300 Chinese and 6 for each."""
    cases = [c for c in corpus if c.language == language]
    assert len(cases) >= MIN_CASES[language]
    counts = Counter(c.question for c in cases)
    least = MIN_CASES_PER_QUESTION[language]
    thin = {q.id: counts[q.id] for q in protocol.questions if counts[q.id] < least}
    assert not thin, f"{language}: questions with fewer than {least} answers: {thin}"


def test_every_case_answers_a_question_of_the_protocol(
    protocol: Protocol, corpus: list[Case]
) -> None:
    strays = sorted({c.question for c in corpus} - {q.id for q in protocol.questions})
    assert not strays, f"answers to questions the protocol does not ask: {strays}"


def test_every_context_names_a_question_of_the_protocol(
    protocol: Protocol, corpus: list[Case]
) -> None:
    ids = {q.id for q in protocol.questions}
    bad = [f"{c.where}: {qid}" for c in corpus for qid in c.context if qid not in ids]
    assert not bad


def test_the_baseline_patient_meets_every_criterion_with_nothing_to_confirm(
    protocol: Protocol,
) -> None:
    """Otherwise a verdict would reflect the baseline, not the answer under test."""
    evaluation = evaluate(protocol, baseline_answers(protocol))
    assert not evaluation.reasons
    assert not evaluation.to_confirm


def test_a_misreading_is_caught_by_the_corpus_runner(protocol: Protocol) -> None:
    """The runner is not a test that cannot fail: a knockout the coordinator would not make is
    reported as a false knockout, and a wrong reading as a miss."""
    wrong = Case("self-test", "diagnosis", "yes", {}, (Reading({"value": "no"}, "knockout"),))
    outcome = run_case(protocol, wrong, baseline_answers(protocol))
    assert not outcome.correct and not outcome.false_knockout
    false_ko = Case("self-test", "diagnosis", "no", {}, (Reading({"unsure": True}, "confirm"),))
    outcome = run_case(protocol, false_ko, baseline_answers(protocol))
    assert outcome.verdict == "knockout" and outcome.false_knockout


def test_no_answer_in_the_corpus_turns_away_a_patient_a_coordinator_would_keep(
    corpus_run: CorpusRun,
) -> None:
    bad = [f"{o.case.where} {o.case.question}: {o.case.text!r}" for o in corpus_run.false_knockouts]
    assert not bad, "false knockouts:\n" + "\n".join(bad)


@pytest.mark.parametrize("language", sorted(MIN_CASES))
def test_at_least_97_percent_of_the_corpus_is_read_as_a_coordinator_would(
    corpus_run: CorpusRun, language: str
) -> None:
    run = corpus_run.of_language(language)
    assert run.outcomes, f"no {language} answers in the corpus"
    assert run.accuracy >= TARGET_ACCURACY, (
        f"{language}: {run.accuracy:.1%} read as a coordinator would; "
        f"{len(run.misses)} misses in {RESULTS_FILE}"
    )
