"""A trial's protocol file: its facts, its questions and its rules, loaded and checked once.

A trial is data. Everything the bot says about a trial and every rule it applies comes from one YAML
file under ``trials/``; this module reads it into frozen dataclasses and refuses a file that is
wrong, naming the field, so a mistake in a protocol never reaches a patient.

Patient-facing text may be a plain string (English) or a mapping of language code to string, and
the patients' own words that answers are matched with (``words``, ``unless``, ``describes``,
choice ``synonyms``, ``keywords``) a list (English) or a mapping of language code to list: a
language adds words, not code. ``languages`` lists the languages a trial is screened in, its
default first; ``missing_translations`` names every patient-facing text that lacks one of them,
and ``python -m bot check-trials`` fails on it, so a patient never reads a mix of languages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.answers import Choice, load_medicines, parse_duration_days

TRIALS_DIR = Path(__file__).resolve().parent.parent / "trials"
DEFAULT_LANGUAGE = "en"


class ProtocolError(ValueError):
    """A protocol file that cannot be used, with the place of the mistake in the message."""


class AnswerType(str, Enum):
    YES_NO = "yes_no"
    NUMBER = "number"
    DURATION = "duration"
    DOSE = "dose"
    CHOICE = "choice"
    MEDICATIONS = "medications"


class CriterionKind(str, Enum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"
    # Conditions of the pre-screen itself that are not in the listing (a guardian for a minor).
    SCREENING = "screening"


@dataclass(frozen=True)
class Text:
    """Patient-facing text in one or more languages."""

    by_language: Mapping[str, str]

    def get(self, language: str = DEFAULT_LANGUAGE) -> str:
        if language in self.by_language:
            return self.by_language[language]
        if DEFAULT_LANGUAGE in self.by_language:
            return self.by_language[DEFAULT_LANGUAGE]
        return next(iter(self.by_language.values()))

    def __str__(self) -> str:
        return self.get()


# ---- conditions -------------------------------------------------------------------------------

COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge", "in")
LIST_TESTS = ("has_class", "has_any_class", "is_empty")
# ``{answer: guardian_agrees, is_unsure: true}``: the patient said they do not know. Only a
# screening criterion (a condition of going on, not of eligibility) may rule out on it.
ANSWER_TESTS = ("is_unsure",)


@dataclass(frozen=True)
class Compare:
    """A test on one question's answer: ``{answer: age, lt: 14}``."""

    question_id: str
    op: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Compare | AllOf | AnyOf | Not


def condition_tests(cond: Condition | None) -> Iterator[Compare]:
    """Every test on an answer that a condition makes."""
    if cond is None:
        return
    if isinstance(cond, Compare):
        yield cond
    elif isinstance(cond, Not):
        yield from condition_tests(cond.part)
    else:
        for part in cond.parts:
            yield from condition_tests(part)


def condition_questions(cond: Condition | None) -> Iterator[str]:
    """The ids of every question a condition reads."""
    for test in condition_tests(cond):
        yield test.question_id


# ---- questions and criteria ---------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerException:
    """One of the listing's own exceptions to what a question asks about.

    "Yes, but it was only a basal cell skin cancer": the patient describes something the listing
    excepts, so the answer is read as this exception and the criterion is left for the site to
    confirm, never decided by the bot. ``words`` are the phrases patients use for it, per
    language: a new language adds words, not code.
    """

    id: str
    understood: Text  # how the bot reads it back, for the patient and for staff
    words: Mapping[str, tuple[str, ...]]
    label: Text | None = None  # a button of its own, where tapping it is natural
    # Words that cancel it: "severe asthma, on an inhaler" is not mild asthma.
    unless: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def phrases(self, language: str) -> tuple[str, ...]:
        return self.words.get(language, ()) or self.words.get(DEFAULT_LANGUAGE, ())

    def cancelling(self, language: str) -> tuple[str, ...]:
        return self.unless.get(language, ()) or self.unless.get(DEFAULT_LANGUAGE, ())


@dataclass(frozen=True)
class Question:
    id: str
    text: Text
    type: AnswerType
    why: Text
    help: Text
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    choice_labels: Mapping[str, Text] = field(default_factory=dict)
    ask_if: Condition | None = None
    # "crisis": a yes shows the site's crisis help at once; "guardian": marks the lead as a minor's.
    flags: frozenset[str] = frozenset()
    # Words that point a correction ("actually I'm 46") at this question, in every language.
    keywords: tuple[str, ...] = ()
    exceptions: tuple[AnswerException, ...] = ()
    # What the bot says it understood before an answer that rules the patient out is taken, by
    # answer value ("yes", "no") or "any" for every value; "{understood}" is the answer in words.
    readback: Mapping[str, Text] = field(default_factory=dict)
    # False where only the patient can know the answer (their age): no "Not sure" way out.
    allow_unsure: bool = True
    # Asked straight after this question, whatever the order by screen-out share.
    ask_after: str | None = None
    # For a dose: the medicines question that names the steroid the dose is of.
    medicines_question: str | None = None
    # For a yes/no question: what it asks about, in patients' words per language, so that a
    # reply that only names it ("parkinsons") is read as a yes.
    describes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The same keywords and choice synonyms by language, for the translation check.
    keywords_by_language: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms_by_language: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def described_by(self, language: str) -> tuple[str, ...]:
        return self.describes.get(language, ()) or self.describes.get(DEFAULT_LANGUAGE, ())

    def exception(self, exception_id: str) -> AnswerException | None:
        return next((e for e in self.exceptions if e.id == exception_id), None)


@dataclass(frozen=True)
class Criterion:
    id: str
    kind: CriterionKind
    number: int
    text: str  # the protocol's own wording, for staff
    plain: Text  # the requirement in plain words, for patients and staff
    reason: Text  # what a patient ruled out by it is told
    not_met_if: Condition | None = None
    confirm_if: Condition | None = None
    site_confirms: bool = False  # only a clinician can measure it (lab, SLEDAI-2K, BILAG)
    screen_out_share: float = 0.0  # estimated share of patients it rules out: orders the questions

    @property
    def label(self) -> str:
        prefix = {"inclusion": "I", "exclusion": "E", "screening": "S"}[self.kind.value]
        return f"{prefix}{self.number}"

    def questions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for qid in condition_questions(self.not_met_if):
            seen[qid] = None
        for qid in condition_questions(self.confirm_if):
            seen[qid] = None
        return tuple(seen)


@dataclass(frozen=True)
class Faq:
    topic: str
    question: Text
    answer: Text


@dataclass(frozen=True)
class Site:
    name: str  # in the default language (English), for staff
    city: str
    country: str
    contact: Text
    crisis_help: Text
    # The numbers crisis help gives, set per site (they differ by country and city):
    # ``{emergency: "120", ...}``, written into ``crisis_help`` as ``{emergency}``.
    crisis_numbers: Mapping[str, str] = field(default_factory=dict)
    # The site's name in each language, as its patients know it.
    names: Text = field(default_factory=lambda: Text({}))
    # How patients reach the study team, shown on the study page when known: a phone number
    # (E.164, checked like a patient's), an email address, a postal address per language. A
    # deployment may add or replace the phone and email with SITE_PHONE / SITE_EMAIL.
    phone: str = ""
    email: str = ""
    address: Text = field(default_factory=lambda: Text({DEFAULT_LANGUAGE: ""}))

    def crisis_text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The crisis help in ``language``, with this site's numbers."""
        return self.crisis_help.get(language).format_map(dict(self.crisis_numbers))


@dataclass(frozen=True)
class Protocol:
    id: str
    code: str
    title: str  # the listing's official title (English), for staff
    short_title: Text
    condition: Text
    phase: str
    status: str
    min_age: int
    max_age: int
    adult_age: int
    sex: str
    sponsor: str
    summary: Text
    overview: Text
    description: Text
    site: Site
    faqs: tuple[Faq, ...]
    questions: tuple[Question, ...]
    criteria: tuple[Criterion, ...]
    source: Path | None = None
    # The languages the trial is screened in, its default first.
    languages: tuple[str, ...] = (DEFAULT_LANGUAGE,)
    # The official title in each language, as the patient's email copy names the study.
    titles: Text = field(default_factory=lambda: Text({}))

    def title_in(self, language: str = DEFAULT_LANGUAGE) -> str:
        return self.titles.get(language) if self.titles.by_language else self.title

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def speaks(self, language: str | None) -> bool:
        return language in self.languages

    def screening_language(self, language: str | None) -> str:
        """The language to screen in: the patient's if the trial has it, else its default."""
        return language if language in self.languages else self.default_language  # type: ignore[return-value]

    @property
    def is_recruiting(self) -> bool:
        return self.status == "recruiting"

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    def criterion(self, criterion_id: str) -> Criterion:
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)

    def faq(self, topic: str) -> Faq | None:
        return next((f for f in self.faqs if f.topic == topic), None)

    def site_name(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The site's name in ``language``, which a deployment may override with ``SITE_NAME``
        (in every language)."""
        override = os.environ.get("SITE_NAME")
        if override:
            return override
        return self.site.names.get(language) if self.site.names.by_language else self.site.name

    def site_phone(self) -> str:
        """The study team's phone number (E.164): ``SITE_PHONE``, else the protocol's; "" when
        neither gives one. An unreadable ``SITE_PHONE`` counts as none (check-trials names it)."""
        from bot.contact import clean_phone

        configured = os.environ.get("SITE_PHONE", "").strip()
        if configured:
            return clean_phone(configured) or ""
        return self.site.phone

    def site_email(self) -> str:
        """The study team's email address: ``SITE_EMAIL``, else the protocol's; "" if none."""
        from bot.contact import clean_email

        configured = os.environ.get("SITE_EMAIL", "").strip()
        if configured:
            return clean_email(configured) or ""
        return self.site.email


def site_contact_problems() -> list[str]:
    """``SITE_PHONE`` and ``SITE_EMAIL`` as set in the environment, checked as a patient's are."""
    from bot.contact import clean_email, clean_phone

    problems = []
    phone = os.environ.get("SITE_PHONE", "").strip()
    if phone and clean_phone(phone) is None:
        problems.append("SITE_PHONE is not a phone number (give it with its country code)")
    email = os.environ.get("SITE_EMAIL", "").strip()
    if email and clean_email(email) is None:
        problems.append("SITE_EMAIL is not an email address")
    return problems


def _site_phone(raw: Any) -> str:
    from bot.contact import clean_phone

    if raw in (None, ""):
        return ""
    cleaned = clean_phone(str(raw))
    if cleaned is None:
        raise ProtocolError(f"site.phone: {raw!r} is not a phone number (give its country code)")
    return cleaned


def _site_email(raw: Any) -> str:
    from bot.contact import clean_email

    if raw in (None, ""):
        return ""
    cleaned = clean_email(str(raw))
    if cleaned is None:
        raise ProtocolError(f"site.email: {raw!r} is not an email address")
    return cleaned


# ---- loading ------------------------------------------------------------------------------------


def _text(raw: Any, where: str, required: bool = True) -> Text:
    if raw is None and not required:
        return Text({DEFAULT_LANGUAGE: ""})
    if isinstance(raw, str) and raw.strip():
        return Text({DEFAULT_LANGUAGE: raw.strip()})
    if isinstance(raw, dict) and raw and all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in raw.items()
    ):
        return Text({k: v.strip() for k, v in raw.items()})
    raise ProtocolError(f"{where}: expected text (a string or a mapping of language to string)")


def _get(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] is None:
        raise ProtocolError(f"{where}: missing '{key}'")
    return raw[key]


def _condition(raw: Any, where: str, questions: Mapping[str, Question]) -> Condition:
    if not isinstance(raw, dict) or not raw:
        raise ProtocolError(f"{where}: a condition must be a mapping")
    if "all" in raw or "any" in raw:
        key = "all" if "all" in raw else "any"
        parts = raw[key]
        if len(raw) != 1 or not isinstance(parts, list) or not parts:
            raise ProtocolError(f"{where}: '{key}' takes a non-empty list and nothing beside it")
        built = tuple(
            _condition(p, f"{where}.{key}[{i}]", questions) for i, p in enumerate(parts)
        )
        return AllOf(built) if key == "all" else AnyOf(built)
    if "not" in raw:
        if len(raw) != 1:
            raise ProtocolError(f"{where}: 'not' stands alone")
        return Not(_condition(raw["not"], f"{where}.not", questions))
    qid = raw.get("answer")
    if qid not in questions:
        raise ProtocolError(f"{where}: 'answer' must name a question, got {qid!r}")
    ops = [k for k in raw if k != "answer"]
    tests = COMPARISONS + LIST_TESTS + ANSWER_TESTS
    if len(ops) != 1 or ops[0] not in tests:
        raise ProtocolError(f"{where}: give exactly one test out of {', '.join(tests)}")
    op = ops[0]
    question = questions[qid]
    if op == "is_unsure":
        if raw[op] is not True:
            raise ProtocolError(f"{where}: write 'is_unsure: true'")
        return Compare(qid, op, True)
    return Compare(qid, op, _operand(question, op, raw[op], f"{where}.{op}"))


def _operand(question: Question, op: str, value: Any, where: str) -> Any:
    """Check a condition's operand against the question's answer type, converting units."""
    qtype = question.type
    if op in LIST_TESTS:
        if qtype is not AnswerType.MEDICATIONS:
            raise ProtocolError(f"{where}: '{op}' applies to medication answers only")
        classes = {m.drug_class for m in load_medicines()}
        wanted = value if isinstance(value, list) else [value]
        if op == "is_empty":
            if value is not True:
                raise ProtocolError(f"{where}: write 'is_empty: true'")
            return True
        unknown = [c for c in wanted if c not in classes]
        if unknown:
            raise ProtocolError(f"{where}: unknown medicine class(es) {unknown}")
        return tuple(wanted) if op == "has_any_class" else wanted[0]
    if op == "in":
        if not isinstance(value, list) or not value:
            raise ProtocolError(f"{where}: 'in' takes a non-empty list")
        return tuple(_scalar(question, v, where) for v in value)
    return _scalar(question, value, where)


def _scalar(question: Question, value: Any, where: str) -> Any:
    qtype = question.type
    if qtype is AnswerType.YES_NO:
        if value not in ("yes", "no"):
            raise ProtocolError(f"{where}: a yes/no answer compares with 'yes' or 'no'")
        return value
    if qtype is AnswerType.CHOICE:
        ids = {c.id for c in question.choices}
        if value not in ids:
            raise ProtocolError(f"{where}: {value!r} is not one of the choices {sorted(ids)}")
        return value
    if qtype is AnswerType.DURATION:
        days = parse_duration_days(str(value))
        if days is None:
            raise ProtocolError(f"{where}: write a duration with its unit, like '8 weeks'")
        return days
    if qtype in (AnswerType.NUMBER, AnswerType.DOSE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(f"{where}: expected a number")
        return float(value)
    raise ProtocolError(f"{where}: cannot compare a {qtype.value} answer this way")


def _question(raw: Mapping[str, Any], index: int) -> Question:
    where = f"questions[{index}]"
    qid = _get(raw, "id", where)
    where = f"question '{qid}'"
    try:
        qtype = AnswerType(_get(raw, "type", where))
    except ValueError as exc:
        raise ProtocolError(
            f"{where}: type must be one of {[t.value for t in AnswerType]}"
        ) from exc
    choices: list[Choice] = []
    labels: dict[str, Text] = {}
    synonyms: dict[str, dict[str, tuple[str, ...]]] = {}
    if qtype is AnswerType.CHOICE:
        raw_choices = _get(raw, "choices", where)
        if not isinstance(raw_choices, list) or len(raw_choices) < 2:
            raise ProtocolError(f"{where}: a choice question needs at least two choices")
        for j, ch in enumerate(raw_choices):
            cid = _get(ch, "id", f"{where}.choices[{j}]")
            label = _text(_get(ch, "label", f"{where}.choices[{j}]"), f"{where}.choices[{j}]")
            by_language = _phrase_lists(
                ch.get("synonyms") or {}, f"{where}.choices[{j}].synonyms", required=False
            )
            synonyms[cid] = by_language
            # A choice is recognised by its label and synonyms in any language: the words of
            # different languages do not collide, and a patient may mix them.
            names = [text.lower() for text in label.by_language.values()]
            names += [w for words in by_language.values() for w in words]
            choices.append(Choice(cid, tuple(dict.fromkeys(names))))
            labels[cid] = label
    elif "choices" in raw:
        raise ProtocolError(f"{where}: only a choice question has choices")
    if qtype in (AnswerType.NUMBER,) and "unit" not in raw:
        raise ProtocolError(f"{where}: a number question needs its unit")
    flags = frozenset(raw.get("flags", []))
    unknown_flags = flags - {"crisis", "guardian"}
    if unknown_flags:
        raise ProtocolError(f"{where}: unknown flags {sorted(unknown_flags)}")
    exceptions = tuple(
        _exception(e, f"{where}.exceptions[{j}]") for j, e in enumerate(raw.get("exceptions") or [])
    )
    if exceptions and qtype is not AnswerType.YES_NO:
        raise ProtocolError(f"{where}: only a yes/no question declares exceptions")
    if raw.get("describes") and qtype is not AnswerType.YES_NO:
        raise ProtocolError(f"{where}: only a yes/no question has 'describes'")
    if len({e.id for e in exceptions}) != len(exceptions):
        raise ProtocolError(f"{where}: exception ids used twice")
    readback = raw.get("readback") or {}
    if not isinstance(readback, dict):
        raise ProtocolError(f"{where}.readback: a mapping of answer value to text")
    allowed_keys = {"any"} | ({"yes", "no"} if qtype is AnswerType.YES_NO else set())
    wrong = set(readback) - allowed_keys
    if wrong:
        raise ProtocolError(f"{where}.readback: keys must be among {sorted(allowed_keys)}")
    keywords = _phrase_lists(raw.get("keywords") or {}, f"{where}.keywords", required=False)
    allow_unsure = raw.get("allow_unsure", True)
    if not isinstance(allow_unsure, bool):
        raise ProtocolError(f"{where}.allow_unsure: true or false")
    return Question(
        id=qid,
        text=_text(_get(raw, "text", where), f"{where}.text"),
        type=qtype,
        why=_text(_get(raw, "why", where), f"{where}.why"),
        help=_text(_get(raw, "help", where), f"{where}.help"),
        unit=raw.get("unit"),
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        choices=tuple(choices),
        choice_labels=labels,
        flags=flags,
        keywords=tuple(dict.fromkeys(w for words in keywords.values() for w in words)),
        keywords_by_language=keywords,
        synonyms_by_language=synonyms,
        exceptions=exceptions,
        readback={k: _text(v, f"{where}.readback.{k}") for k, v in readback.items()},
        allow_unsure=allow_unsure,
        ask_after=raw.get("ask_after"),
        medicines_question=raw.get("medicines_question"),
        describes=_phrase_lists(raw.get("describes") or {}, f"{where}.describes", required=False),
    )


def _exception(raw: Any, where: str) -> AnswerException:
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: expected a mapping with id, understood and words")
    eid = _get(raw, "id", where)
    unknown = set(raw) - {"id", "understood", "words", "label", "unless"}
    if unknown:
        raise ProtocolError(f"{where} ('{eid}'): unknown keys {sorted(unknown)}")
    label = raw.get("label")
    return AnswerException(
        id=str(eid),
        understood=_text(_get(raw, "understood", where), f"{where}.understood"),
        words=_phrase_lists(_get(raw, "words", where), f"{where} ('{eid}').words"),
        label=_text(label, f"{where}.label") if label is not None else None,
        unless=_phrase_lists(raw.get("unless") or {}, f"{where} ('{eid}').unless", required=False),
    )


def _phrase_lists(raw: Any, where: str, required: bool = True) -> dict[str, tuple[str, ...]]:
    """Phrases per language: a list (the default language's) or a mapping of language to list."""
    if isinstance(raw, list):
        raw = {DEFAULT_LANGUAGE: raw}
    if not isinstance(raw, dict) or (required and not raw) or not all(
        isinstance(v, list) and v and all(isinstance(w, str) and w.strip() for w in v)
        for v in raw.values()
    ):
        raise ProtocolError(f"{where}: a list of phrases per language")
    return {str(k): tuple(w.strip().lower() for w in v) for k, v in raw.items()}


_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def _languages(raw: Any, where: str) -> tuple[str, ...]:
    """The trial's languages, default first; a trial that names none is English only."""
    if raw is None:
        return (DEFAULT_LANGUAGE,)
    if (
        not isinstance(raw, list) or not raw
        or not all(isinstance(code, str) and _LANGUAGE_CODE.match(code) for code in raw)
        or len(set(raw)) != len(raw)
    ):
        raise ProtocolError(f"{where}.languages: a list of language codes, such as [en, zh]")
    return tuple(raw)


def _crisis_numbers(raw: Any, crisis_help: Text) -> dict[str, str]:
    """The site's crisis numbers; every {name} in the crisis help must be one of them."""
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) and str(v).strip() for k, v in raw.items()
    ):
        raise ProtocolError("site.crisis_numbers: a mapping of name to phone number")
    numbers = {k: str(v).strip() for k, v in raw.items()}
    for language, words in crisis_help.by_language.items():
        try:
            words.format_map(numbers)
        except (KeyError, ValueError, IndexError) as exc:
            raise ProtocolError(
                f"site.crisis_help ({language}): every {{name}} must be one of "
                f"site.crisis_numbers {sorted(numbers)} ({exc})"
            ) from exc
    return numbers


def parse_protocol(raw: Mapping[str, Any], source: Path | None = None) -> Protocol:
    """Build and check a protocol from the YAML's mapping."""
    if not isinstance(raw, Mapping):
        raise ProtocolError("a protocol file must be a mapping")
    where = str(source or "protocol")
    raw_questions = _get(raw, "questions", where)
    built: list[Question] = [_question(q, i) for i, q in enumerate(raw_questions)]
    ids = [q.id for q in built]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ProtocolError(f"{where}: question ids used twice: {sorted(dupes)}")
    by_id = {q.id: q for q in built}
    # ask_if conditions may refer to any question, so they are read once all questions exist.
    questions: list[Question] = []
    for q, rq in zip(built, raw_questions, strict=True):
        ask_if = rq.get("ask_if")
        cond = _condition(ask_if, f"question '{q.id}'.ask_if", by_id) if ask_if else None
        if cond is not None and q.id in set(condition_questions(cond)):
            raise ProtocolError(f"question '{q.id}': ask_if refers to the question itself")
        questions.append(replace(q, ask_if=cond))
    by_id = {q.id: q for q in questions}
    for q in questions:
        if q.ask_after is not None and (q.ask_after not in by_id or q.ask_after == q.id):
            raise ProtocolError(f"question '{q.id}': ask_after must name another question")
        if q.medicines_question is not None and (
            q.type is not AnswerType.DOSE
            or q.medicines_question not in by_id
            or by_id[q.medicines_question].type is not AnswerType.MEDICATIONS
        ):
            raise ProtocolError(
                f"question '{q.id}': medicines_question is for a dose question, and names a "
                "medications question"
            )

    criteria: list[Criterion] = []
    for i, rc in enumerate(_get(raw, "criteria", where)):
        cid = _get(rc, "id", f"criteria[{i}]")
        cw = f"criterion '{cid}'"
        try:
            kind = CriterionKind(_get(rc, "kind", cw))
        except ValueError as exc:
            raise ProtocolError(f"{cw}: kind must be inclusion, exclusion or screening") from exc
        not_met = rc.get("not_met_if")
        confirm = rc.get("confirm_if")
        not_met_cond = _condition(not_met, f"{cw}.not_met_if", by_id) if not_met else None
        if kind is not CriterionKind.SCREENING and any(
            t.op == "is_unsure" for t in condition_tests(not_met_cond)
        ):
            raise ProtocolError(
                f"{cw}: only a screening criterion may rule out on an answer the patient was "
                "not sure of"
            )
        site_confirms = bool(rc.get("site_confirms", False))
        if not (not_met or confirm or site_confirms):
            raise ProtocolError(f"{cw}: give not_met_if, confirm_if or site_confirms: true")
        share = rc.get("screen_out_share", 0.0)
        if not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ProtocolError(f"{cw}: screen_out_share must be between 0 and 1")
        criteria.append(
            Criterion(
                id=cid,
                kind=kind,
                number=int(_get(rc, "number", cw)),
                text=str(_get(rc, "text", cw)).strip(),
                plain=_text(_get(rc, "plain", cw), f"{cw}.plain"),
                reason=_text(_get(rc, "reason", cw), f"{cw}.reason"),
                not_met_if=not_met_cond,
                confirm_if=_condition(confirm, f"{cw}.confirm_if", by_id) if confirm else None,
                site_confirms=site_confirms,
                screen_out_share=float(share),
            )
        )
    cids = [c.id for c in criteria]
    if len(set(cids)) != len(cids):
        raise ProtocolError(f"{where}: criterion ids used twice")
    used = {qid for c in criteria for qid in c.questions()}
    used |= {qid for q in questions for qid in condition_questions(q.ask_if)}
    unused = [q.id for q in questions if q.id not in used]
    if unused:
        raise ProtocolError(f"{where}: questions no criterion or follow-up reads: {unused}")

    ages = _get(raw, "ages", where)
    site = _get(raw, "site", where)
    crisis_help = _text(_get(site, "crisis_help", "site"), "site.crisis_help")
    titles = _text(_get(raw, "title", where), "title")
    site_names = _text(_get(site, "name", "site"), "site.name")
    crisis_numbers = _crisis_numbers(site.get("crisis_numbers") or {}, crisis_help)
    faqs = tuple(
        Faq(
            topic=_get(f, "topic", f"faqs[{i}]"),
            question=_text(_get(f, "question", f"faqs[{i}]"), f"faqs[{i}].question"),
            answer=_text(_get(f, "answer", f"faqs[{i}]"), f"faqs[{i}].answer"),
        )
        for i, f in enumerate(raw.get("faqs", []))
    )
    return Protocol(
        id=str(_get(raw, "id", where)),
        code=str(_get(raw, "code", where)),
        title=titles.get(DEFAULT_LANGUAGE),
        titles=titles,
        short_title=_text(_get(raw, "short_title", where), "short_title"),
        condition=_text(_get(raw, "condition", where), "condition"),
        phase=str(_get(raw, "phase", where)),
        status=str(_get(raw, "status", where)),
        min_age=int(_get(ages, "min", "ages")),
        max_age=int(_get(ages, "max", "ages")),
        adult_age=int(ages.get("adult", 18)),
        sex=str(raw.get("sex", "all")),
        sponsor=str(raw.get("sponsor", "")),
        summary=_text(_get(raw, "summary", where), "summary"),
        overview=_text(_get(raw, "overview", where), "overview"),
        description=_text(_get(raw, "description", where), "description"),
        site=Site(
            name=site_names.get(DEFAULT_LANGUAGE),
            names=site_names,
            city=str(site.get("city", "")),
            country=str(site.get("country", "")),
            contact=_text(site.get("contact"), "site.contact", required=False),
            crisis_help=crisis_help,
            crisis_numbers=crisis_numbers,
            phone=_site_phone(site.get("phone")),
            email=_site_email(site.get("email")),
            address=_text(site.get("address"), "site.address", required=False),
        ),
        faqs=faqs,
        questions=tuple(questions),
        criteria=tuple(criteria),
        source=source,
        languages=_languages(raw.get("languages"), where),
    )


def load_protocol(path: Path | str) -> Protocol:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{path}: not valid YAML: {exc}") from exc
    return parse_protocol(raw, source=path)


def trials_dir() -> Path:
    return Path(os.environ.get("TRIALS_DIR") or TRIALS_DIR)


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime: float) -> Protocol:
    return load_protocol(path)


def get_protocol(trial_id: str | None = None) -> Protocol:
    """The protocol for a trial id (``DEFAULT_TRIAL`` if none), cached per file version."""
    trial_id = trial_id or os.environ.get("DEFAULT_TRIAL") or "NCT06675422"
    if not trial_id.replace("-", "").replace("_", "").isalnum():
        raise ProtocolError(f"not a trial id: {trial_id!r}")
    path = trials_dir() / f"{trial_id}.yml"
    if not path.exists():
        raise ProtocolError(f"no protocol file for trial {trial_id} in {trials_dir()}")
    return _load_cached(str(path), path.stat().st_mtime)


def all_protocols() -> list[Protocol]:
    """Every protocol in the trials folder, in file-name order."""
    return [get_protocol(p.stem) for p in sorted(trials_dir().glob("*.yml"))]


# ---- translations -------------------------------------------------------------------------------


def patient_texts(protocol: Protocol) -> Iterator[tuple[str, Text]]:
    """Every text of a protocol a patient reads, with where it is in the file.

    Left out: each criterion's ``text`` (the listing's own words, for staff), and ids.
    """
    yield "title", protocol.titles
    yield "short_title", protocol.short_title
    yield "condition", protocol.condition
    yield "summary", protocol.summary
    yield "overview", protocol.overview
    yield "description", protocol.description
    yield "site.name", protocol.site.names
    if protocol.site.contact.get():
        yield "site.contact", protocol.site.contact
    if protocol.site.address.get():
        yield "site.address", protocol.site.address
    yield "site.crisis_help", protocol.site.crisis_help
    for faq in protocol.faqs:
        yield f"faq '{faq.topic}'.question", faq.question
        yield f"faq '{faq.topic}'.answer", faq.answer
    for q in protocol.questions:
        where = f"question '{q.id}'"
        yield f"{where}.text", q.text
        yield f"{where}.why", q.why
        yield f"{where}.help", q.help
        for cid, label in q.choice_labels.items():
            yield f"{where}.choices '{cid}'.label", label
        for key, words in q.readback.items():
            yield f"{where}.readback.{key}", words
        for e in q.exceptions:
            yield f"{where}.exception '{e.id}'.understood", e.understood
            if e.label is not None:
                yield f"{where}.exception '{e.id}'.label", e.label
    for c in protocol.criteria:
        yield f"criterion '{c.id}'.plain", c.plain
        yield f"criterion '{c.id}'.reason", c.reason


def patient_phrases(protocol: Protocol) -> Iterator[tuple[str, Mapping[str, tuple[str, ...]]]]:
    """Every list of patients' words the answers are matched with, by language."""
    for q in protocol.questions:
        where = f"question '{q.id}'"
        if q.keywords_by_language:
            yield f"{where}.keywords", q.keywords_by_language
        if q.describes:
            yield f"{where}.describes", q.describes
        for cid, synonyms in q.synonyms_by_language.items():
            if synonyms:
                yield f"{where}.choices '{cid}'.synonyms", synonyms
        for e in q.exceptions:
            yield f"{where}.exception '{e.id}'.words", e.words
            if e.unless:
                yield f"{where}.exception '{e.id}'.unless", e.unless


def missing_translations(protocol: Protocol) -> list[str]:
    """Each patient-facing text or list of patients' words without one of the trial's languages.

    A text missing a language would be shown in the default language instead, in the middle of a
    conversation in another one: ``check-trials`` fails on any of these.
    """
    problems = []
    name = protocol.source.name if protocol.source else protocol.id
    for language in protocol.languages:
        for where, text in patient_texts(protocol):
            if language not in text.by_language:
                problems.append(f"{name}: {where} has no {language} text")
        for where, phrases in patient_phrases(protocol):
            if language not in phrases:
                problems.append(f"{name}: {where} has no {language} words")
    return problems


def language_problems(protocols: list[Protocol], locales: list[str]) -> list[str]:
    """Every missing translation of every protocol, and each trial language the bot's own words
    (``bot/locales``) lack."""
    from bot.messages import DEFAULT_LANGUAGE as WORDS_DEFAULT
    from bot.messages import catalogue, placeholders

    problems = []
    default = catalogue(WORDS_DEFAULT)
    for locale in locales:
        words = catalogue(locale)
        for key in default:
            if key not in words:
                problems.append(f"bot/locales/{locale}.yml: no '{key}'")
            elif placeholders(key, locale) != placeholders(key, WORDS_DEFAULT):
                problems.append(
                    f"bot/locales/{locale}.yml: '{key}' must fill "
                    f"{sorted(placeholders(key, WORDS_DEFAULT))}"
                )
        if locale != WORDS_DEFAULT:
            problems += [
                f"bot/locales/{locale}.yml: no 'medicine_{m.id}' (the name of {m.name})"
                for m in load_medicines()
                if f"medicine_{m.id}" not in words
            ]
    for protocol in protocols:
        for language in protocol.languages:
            if language not in locales:
                problems.append(
                    f"{protocol.id}: language '{language}' has no bot/locales/{language}.yml"
                )
        problems += missing_translations(protocol)
    return problems
