"""A protocol question as the patient sees it, and the patient's reply as the engine needs it.

``render`` turns a question into text and options (buttons, or numbered options on channels that
only carry text); ``interpret`` turns a reply, typed or tapped, into a typed :class:`Answer`, or
None when it cannot tell what was meant, so that the bot asks again rather than guess;
``readback`` says in plain words what the bot understood, for the patient to confirm before an
answer that would end the screening counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot import answers as parse
from bot.engine import UNKNOWN_MEDICINE, Answer
from bot.messages import catalogue, msg
from bot.protocol import AnswerException, AnswerType, Question

UNSURE = "unsure"
NONE = "none"
EXCEPTION = "exception:"  # a button's value for one of the question's exceptions
# What a reply is read from: an answer is short, and parsing a long text costs every patient
# time. The whole reply is still stored as typed.
MAX_ANSWER_CHARS = 1000


@dataclass(frozen=True)
class Option:
    value: str  # what the button sends back
    label: str


@dataclass(frozen=True)
class Rendered:
    text: str
    options: tuple[Option, ...]

    def buttons(self) -> list[dict[str, str]]:
        """Rasa button dicts. The payload carries the exact value, so no NLU guess is involved."""
        return [
            {"title": o.label, "payload": f'/inform{{"answer": "{o.value}"}}'}
            for o in self.options
        ]

    def as_plain_text(self, language: str = "en") -> str:
        """The question with numbered options, for SMS and other text-only channels."""
        if not self.options:
            return self.text
        options = msg("numbered_joiner", language).join(
            msg("numbered_option", language, number=i, label=o.label)
            for i, o in enumerate(self.options, start=1)
        )
        return f"{self.text}\n{msg('numbered_options', language, options=options)}"


@dataclass(frozen=True)
class Interpretation:
    answer: Answer
    understood: str  # how the bot understood it, in words: for read-back and for staff
    # "more than 7 weeks": the truth may be far above the value, so it never rules anyone out.
    at_least: bool = False


def options(question: Question, language: str = "en") -> tuple[Option, ...]:
    not_sure = (Option(UNSURE, msg("option_not_sure", language)),) if question.allow_unsure else ()
    match question.type:
        case AnswerType.YES_NO:
            excepted = tuple(
                Option(f"{EXCEPTION}{e.id}", e.label.get(language))
                for e in question.exceptions
                if e.label is not None
            )
            return (
                Option("yes", msg("option_yes", language)),
                Option("no", msg("option_no", language)),
                *excepted,
                *not_sure,
            )
        case AnswerType.CHOICE:
            return tuple(
                Option(c.id, question.choice_labels[c.id].get(language)) for c in question.choices
            )
        case AnswerType.MEDICATIONS:
            return (Option(NONE, msg("option_none", language)), *not_sure)
        case _:
            return not_sure


def render(question: Question, language: str = "en") -> Rendered:
    return Rendered(question.text.get(language), options(question, language))


def interpret(
    question: Question,
    text: str,
    language: str = "en",
    context: Mapping[str, Answer] | None = None,
) -> Interpretation | None:
    """Understand a reply to ``question``; None when it is unclear or out of range.

    ``context`` holds the patient's earlier answers by question id: the dose question reads the
    medicines answer to count a dose of dexamethasone in prednisone equivalents.
    """
    text = text[:MAX_ANSWER_CHARS]
    raw = parse.parse_button_payload(text)
    if raw is None:
        raw = text
        numbered = _numbered_option(question, text, language)
        if numbered is not None:
            raw = numbered
    raw = raw.strip()
    if not raw:
        return None
    # An exception first: "asthma, maybe once a month on my inhaler" describes mild asthma.
    if question.type is AnswerType.YES_NO and question.exceptions:
        excepted = _exception_answer(question, raw, language)
        if excepted is not None:
            return excepted
    if raw == UNSURE or _is_unsure(question, raw):
        if not question.allow_unsure:
            return None
        return Interpretation(Answer.not_sure(question.id), msg("option_not_sure", language))
    if question.type is AnswerType.MEDICATIONS:
        return _medicines_answer(question, raw, language)
    if question.type is AnswerType.DOSE:
        return _dose_answer(question, raw, language, context or {})
    value = _typed_value(question, raw)
    if value is not None and question.type is AnswerType.DURATION and _LOWER_BOUND.search(
        parse.normalise(raw)
    ):
        # Said back as the patient's own bound: "more than 7 weeks", not "7 weeks and a day".
        bound = parse.parse_duration_days(_LOWER_BOUND.sub(" ", parse.normalise(raw))) or value
        return Interpretation(
            Answer(question.id, value),
            msg("at_least", language, amount=describe(question, bound, language)),
            at_least=True,
        )
    if value is None and question.type is AnswerType.YES_NO:
        # The English wording gives the question's time window ("in the last 12 months").
        described = parse.describes(raw, question.described_by(language), question.text.get("en"))
        if described == "unsure":
            return Interpretation(Answer.not_sure(question.id), msg("option_not_sure", language))
        value = described
    if value is None:
        return None
    return Interpretation(Answer(question.id, value), describe(question, value, language))


_LOWER_BOUND = re.compile(
    r"(?<!\w)(?:more than|over|at least|or more|or longer|longer than|plus|upwards of|"
    r"in excess of|no less than|not less than)(?!\w)|\+|以上|多于|超过|至少|出头|"
    # "一个多月", "十多天", "一年多": a month and more, so never a knockout by itself.
    r"(?<=[\d一二两俩三四五六七八九十百个])多(?=个?(?:天|周|星期|礼拜|月|年))|(?<=[天周期拜月年])多"
)


def recognised(interpretation: Interpretation) -> bool:
    """Whether the bot recognised something in the answer: a medicines answer made only of
    names it did not know ("is it safe?") may be no answer at all."""
    value = interpretation.answer.value
    if isinstance(value, list) and value:
        return any(not str(v).startswith(UNKNOWN_MEDICINE) for v in value)
    return True


_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９＃", "0123456789#")


def _numbered_option(question: Question, text: str, language: str) -> str | None:
    """'1', '2'... pick an option on text-only channels, except where a number is the answer."""
    if question.type in (AnswerType.NUMBER, AnswerType.DOSE, AnswerType.DURATION):
        return None
    # A Chinese keyboard in full-width mode types "２" and "２。" for "2" (not "²" or "①").
    stripped = text.translate(_FULL_WIDTH_DIGITS).strip().rstrip(".。").lstrip("#")
    # ASCII digits only: "²" and "①" are digits to str.isdigit but not to int().
    if stripped.isascii() and stripped.isdigit() and len(stripped) <= 3:
        opts = options(question, language)
        index = int(stripped)
        if 1 <= index <= len(opts):
            return opts[index - 1].value
    return None


def _is_unsure(question: Question, text: str) -> bool:
    if question.type is AnswerType.YES_NO:
        return parse.parse_yes_no(text) == "unsure"
    return parse.is_unsure(text)


def find_exception(question: Question, text: str, language: str = "en") -> AnswerException | None:
    """The listing's exception a reply describes ("yes, but only a basal cell skin cancer")."""
    t = parse.normalise(text)
    for exception in question.exceptions:
        if any(parse.mentions(t, p) for p in exception.phrases(language)) and not any(
            parse.mentions(t, p) for p in exception.cancelling(language)
        ):
            return exception
    return None


def _exception_answer(question: Question, raw: str, language: str) -> Interpretation | None:
    """A tapped exception, or a typed yes/no/other reply that describes one."""
    if raw.startswith(EXCEPTION):
        exception = question.exception(raw.removeprefix(EXCEPTION))
    else:
        exception = find_exception(question, raw, language)
    if exception is None:
        return None
    return Interpretation(
        Answer(question.id, "yes", exception=exception.id), exception.understood.get(language)
    )


def _medicines_answer(question: Question, raw: str, language: str) -> Interpretation | None:
    if raw == NONE or parse.is_none_answer(raw):
        return Interpretation(Answer(question.id, []), msg("option_none", language))
    reading = parse.read_medicines(raw)
    if not reading.taken and not reading.unrecognised:
        if not reading.stopped:
            return None
        value: list[str] = []
    else:
        value = [m.id for m in reading.taken]
        value += [f"{UNKNOWN_MEDICINE}{name}" for name in reading.unrecognised]
    return Interpretation(Answer(question.id, value), describe(question, value, language))


def _dose_answer(
    question: Question, raw: str, language: str, context: Mapping[str, Answer]
) -> Interpretation | None:
    """mg/day of prednisone or its equivalent, from the dose and the steroid named with it or in
    the medicines answer: 10 mg of dexamethasone counts as about 67 mg of prednisone."""
    mg = parse.parse_daily_dose_mg(raw)
    if mg is None:
        return None
    steroids = [m for m in parse.read_medicines(raw).taken if m.drug_class == "glucocorticoid"]
    if not steroids and question.medicines_question in context:
        named = context[question.medicines_question].value or []
        table = {m.id: m for m in parse.load_medicines()}
        steroids = [
            table[i] for i in named if i in table and table[i].drug_class == "glucocorticoid"
        ]
    factors = {m.prednisone_equivalent or 1.0 for m in steroids}
    if len(factors) > 1:
        return None  # two steroids with different strengths: which one is the dose?
    factor = factors.pop() if factors else 1.0
    equivalent = round(mg * factor, 2)
    answer = Answer(question.id, equivalent)
    named = [m for m in steroids if m.prednisone_equivalent]
    if not named or factor == 1.0:
        return Interpretation(answer, describe(question, equivalent, language))
    understood = msg(
        "dose_equivalent", language, steroid=medicine_name(named[0], language), mg=_fmt(mg),
        equivalent=_fmt(equivalent),
    )
    return Interpretation(answer, understood)


def _typed_value(question: Question, text: str) -> object | None:
    match question.type:
        case AnswerType.YES_NO:
            value = parse.parse_yes_no(text)
            return value if value in ("yes", "no") else None
        case AnswerType.NUMBER:
            number = parse.parse_age(text) if question.unit == "years" else parse.parse_number(text)
            return number if number is not None and _in_range(question, number) else None
        case AnswerType.DURATION:
            return parse.parse_duration_days(text)
        case AnswerType.CHOICE:
            return parse.parse_choice(text, question.choices)
    return None


def _in_range(question: Question, number: float) -> bool:
    low = question.minimum if question.minimum is not None else float("-inf")
    high = question.maximum if question.maximum is not None else float("inf")
    return low <= number <= high


def describe(question: Question, value: object, language: str = "en") -> str:
    """An answer in words, as staff read it and as the patient hears it read back."""
    match question.type:
        case AnswerType.YES_NO:
            return msg("option_yes" if value == "yes" else "option_no", language)
        case AnswerType.NUMBER:
            number = _fmt(float(value))  # type: ignore[arg-type]
            if not question.unit:
                return number
            return msg("number_with_unit", language, number=number, unit=_unit(
                question.unit, float(value), language  # type: ignore[arg-type]
            ))
        case AnswerType.DURATION:
            return describe_days(float(value), language)  # type: ignore[arg-type]
        case AnswerType.DOSE:
            return msg("dose_described", language, mg=_fmt(float(value)))  # type: ignore[arg-type]
        case AnswerType.CHOICE:
            return question.choice_labels[str(value)].get(language)
        case AnswerType.MEDICATIONS:
            if not value:
                return msg("option_none", language)
            return msg("list_joiner", language).join(
                _medicine_words(str(v), language) for v in value  # type: ignore[union-attr]
            )
    return str(value)


def _medicine_words(entry: str, language: str) -> str:
    """ "prednisone (a steroid)", or the name the bot did not recognise, as typed."""
    if entry.startswith(UNKNOWN_MEDICINE):
        return msg("medicine_unrecognised", language, name=entry.removeprefix(UNKNOWN_MEDICINE))
    medicine = {m.id: m for m in parse.load_medicines()}.get(entry)
    if medicine is None:
        return entry
    return msg(
        "medicine_with_class", language, name=medicine_name(medicine, language),
        drug_class=msg(f"class_{medicine.drug_class}", language),
    )


def medicine_name(medicine: parse.Medicine, language: str = "en") -> str:
    """A medicine's name as patients of ``language`` know it: the locale's ``medicine_<id>``, or
    the table's name (English) where the locale has none."""
    return catalogue(language).get(f"medicine_{medicine.id}", medicine.name)


def readback(question: Question, interpretation: Interpretation, language: str = "en") -> str:
    """What the bot understood, in plain words, ending in "Is that right?".

    The protocol words it per answer ("So you have had cancer in the last 5 years..."); without
    such words the bot repeats the question with the answer as it understood it.
    """
    answer = interpretation.answer
    key = answer.value if question.type is AnswerType.YES_NO else "any"
    template = None if answer.exception else (
        question.readback.get(str(key)) or question.readback.get("any")
    )
    if question.type is AnswerType.MEDICATIONS:
        said = msg("readback_medicines", language, medicines=interpretation.understood)
        if not answer.value:
            said = msg("readback_no_medicines", language)
    elif template is not None:
        said = template.get(language).format(understood=interpretation.understood)
    else:
        said = msg(
            "readback_generic", language, question=question.text.get(language),
            understood=interpretation.understood,
        )
    return f"{said} {msg('readback_ask', language)}"


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _unit(unit: str, amount: float, language: str) -> str:
    """A unit's word from the locale ("1 year", "2 years"); an unknown unit as it is written."""
    key = f"unit_{unit.replace('/', '_per_')}" + ("" if amount == 1 else "_plural")
    try:
        return msg(key, language)
    except KeyError:
        return unit


_UNITS_IN_DAYS = (
    ("years", parse.DAYS_PER_YEAR, parse.DAYS_PER_YEAR),
    ("months", parse.DAYS_PER_MONTH, 28),
    ("weeks", float(parse.DAYS_PER_WEEK), 7),
)


def describe_days(days: float, language: str = "en") -> str:
    """A length of time as a patient says it: "2 months", "1 year", "just under 2 months"
    (a day either side of a whole count, as "nearly 2 months" is read)."""
    for unit, size, at_least in _UNITS_IN_DAYS:
        if days < at_least - 1:
            continue
        for halves in (0.5, 1.0) if unit != "weeks" else (1.0,):
            count = round(days / size / halves) * halves
            if count <= 0:
                continue
            off = days - count * size
            if abs(off) < 0.01:
                return _amount(count, unit, language)
            if abs(abs(off) - 1) < 0.01 and halves == 1.0:
                key = "duration_just_under" if off < 0 else "duration_just_over"
                return msg(key, language, duration=_amount(count, unit, language))
    return _amount(round(days, 1), "days", language)


def _amount(count: float, unit: str, language: str) -> str:
    """A length of time. A locale may word a unit of time apart from the same unit of a number
    question (``duration_unit_years``: Chinese says 34 岁 of an age, 2 年 of a length of time)."""
    words = catalogue(language)
    key = f"duration_unit_{unit}" + ("" if count == 1 else "_plural")
    word = words[key] if key in words else _unit(unit, count, language)
    return msg("number_with_unit", language, number=_fmt(count), unit=word)
