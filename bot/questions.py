"""A protocol question as the patient sees it, and the patient's reply as the engine needs it.

``render`` turns a question into text and options (buttons, or numbered options on channels that
only carry text); ``interpret`` turns a reply, typed or tapped, into a typed :class:`Answer`, or
None when it cannot tell what was meant, so that the bot asks again rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import answers as parse
from bot.engine import Answer
from bot.messages import msg
from bot.protocol import AnswerType, Question

UNSURE = "unsure"
NONE = "none"


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


def options(question: Question, language: str = "en") -> tuple[Option, ...]:
    not_sure = Option(UNSURE, msg("option_not_sure", language))
    match question.type:
        case AnswerType.YES_NO:
            return (
                Option("yes", msg("option_yes", language)),
                Option("no", msg("option_no", language)),
                not_sure,
            )
        case AnswerType.CHOICE:
            return tuple(
                Option(c.id, question.choice_labels[c.id].get(language)) for c in question.choices
            )
        case AnswerType.MEDICATIONS:
            return (Option(NONE, msg("option_none", language)), not_sure)
        case _:
            return (not_sure,)


def render(question: Question, language: str = "en") -> Rendered:
    return Rendered(question.text.get(language), options(question, language))


def interpret(question: Question, text: str, language: str = "en") -> Interpretation | None:
    """Understand a reply to ``question``; None when it is unclear or out of range."""
    raw = parse.parse_button_payload(text)
    if raw is None:
        raw = text
        numbered = _numbered_option(question, text, language)
        if numbered is not None:
            raw = numbered
    raw = raw.strip()
    if not raw:
        return None
    if raw == UNSURE or _is_unsure(question, raw):
        return Interpretation(Answer.not_sure(question.id), msg("option_not_sure", language))
    value = _typed_value(question, raw)
    if value is None:
        return None
    return Interpretation(Answer(question.id, value), describe(question, value, language))


def _numbered_option(question: Question, text: str, language: str) -> str | None:
    """'1', '2'... pick an option on text-only channels, except where a number is the answer."""
    if question.type in (AnswerType.NUMBER, AnswerType.DOSE, AnswerType.DURATION):
        return None
    stripped = text.strip().rstrip(".").lstrip("#")
    if stripped.isdigit():
        opts = options(question, language)
        index = int(stripped)
        if 1 <= index <= len(opts):
            return opts[index - 1].value
    return None


def _is_unsure(question: Question, text: str) -> bool:
    if question.type is AnswerType.YES_NO:
        return parse.parse_yes_no(text) == "unsure"
    return parse.is_unsure(text)


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
        case AnswerType.DOSE:
            return _prednisone_equivalent_dose(text)
        case AnswerType.CHOICE:
            return parse.parse_choice(text, question.choices)
        case AnswerType.MEDICATIONS:
            if text == NONE or parse.is_none_answer(text):
                return []
            found = parse.find_medicines(text)
            return [m.id for m in found] or None
    return None


def _in_range(question: Question, number: float) -> bool:
    low = question.minimum if question.minimum is not None else float("-inf")
    high = question.maximum if question.maximum is not None else float("inf")
    return low <= number <= high


def _prednisone_equivalent_dose(text: str) -> float | None:
    """mg/day of prednisone or its equivalent: '4 mg Medrol' counts as 5 mg of prednisone."""
    dose = parse.parse_daily_dose_mg(text)
    if dose is None:
        return None
    named = [m for m in parse.find_medicines(text) if m.prednisone_equivalent]
    factor = named[0].prednisone_equivalent if len(named) == 1 else 1.0
    return round(dose * (factor or 1.0), 2)


def describe(question: Question, value: object, language: str = "en") -> str:
    """An answer in words, as staff read it and as the patient hears it read back."""
    match question.type:
        case AnswerType.YES_NO:
            return msg("option_yes" if value == "yes" else "option_no", language)
        case AnswerType.NUMBER:
            number = _fmt(float(value))  # type: ignore[arg-type]
            return f"{number} {question.unit}" if question.unit else number
        case AnswerType.DURATION:
            return _describe_days(float(value))  # type: ignore[arg-type]
        case AnswerType.DOSE:
            return f"{_fmt(float(value))} mg/day (prednisone equivalent)"  # type: ignore[arg-type]
        case AnswerType.CHOICE:
            return question.choice_labels[str(value)].get(language)
        case AnswerType.MEDICATIONS:
            if not value:
                return msg("option_none", language)
            names = {m.id: m.name for m in parse.load_medicines()}
            return ", ".join(names.get(str(v), str(v)) for v in value)  # type: ignore[union-attr]
    return str(value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _describe_days(days: float) -> str:
    if days >= parse.DAYS_PER_YEAR and (days / parse.DAYS_PER_YEAR) % 0.5 < 0.01:
        return f"{_fmt(round(days / parse.DAYS_PER_YEAR, 1))} years"
    if days >= 28 and (days / parse.DAYS_PER_MONTH) % 0.5 < 0.01:
        return f"{_fmt(round(days / parse.DAYS_PER_MONTH, 1))} months"
    if days % 7 == 0:
        return f"{_fmt(days / 7)} weeks"
    return f"{_fmt(round(days, 1))} days"
