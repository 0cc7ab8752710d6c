"""Simulated patients for the end-to-end suite: who they are, how they answer, and the outcome a
careful coordinator reaches for them from the listing.

The patients are data (``patients.yml``). Each has a *truth* (their age, sex, medicines as they
would type them and as medicine ids, their steroid dose, how long they have been treated, and
every yes/no), a *style* and the coordinator's *expected outcome*:

- a **typist** types every answer in their own words (typos, abbreviations, "yes but", numbers
  in words, the listing's exceptions); after "Sorry, I didn't quite understand that" they say it
  again more plainly;
- a **tapper** taps a button wherever one says what they mean, and types only where none does
  (age, medicines, dose, duration, contact details; a febrile seizure, which has no button).

A simulated patient is careful: when the bot reads an answer back ("... Is that right?") they
check it against their own truth, confirm it when it says what they meant, and otherwise tap
"No, let me answer again" and answer again more plainly. Such a read-back is a *caught
misreading*, not a knockout.

This module has no pytest in it: :func:`play` drives one patient through a ``talk(sender, text)``
callable and returns the transcript; :func:`judge` reads the screening store.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from bot.answers import load_medicines
from bot.db import session_scope
from bot.engine import UNKNOWN_MEDICINE, Answer, Status, Verdict, evaluate
from bot.messages import msg
from bot.models import AnswerRow, Lead, Screening, VerdictRow
from bot.protocol import AnswerType, Protocol, Question, get_protocol
from bot.questions import Interpretation, describe, readback

PATIENTS_FILE = Path(__file__).with_name("patients.yml")
TRIAL = "NCT06675422"
LANG = "en"
MAX_TURNS = 150
MAX_ATTEMPTS = 4  # answers to one question before the patient settles for "not sure"

Talk = Callable[[str, str], list[dict]]

# ---- the patients ------------------------------------------------------------------------------

# What a patient who may take part answers, question by question, unless their file says otherwise.
DEFAULT_TRUTH: dict[str, str] = {
    "diagnosis": "yes",
    "guardian": "yes",
    "guardian_agrees": "yes",
    "dose_stable": "yes",
    "lupus_active": "yes",
    "symptoms": "yes",
    "antibodies": "yes",
}  # every other yes/no question: "no"

# How typists word the usual answers: one phrasing per patient and question, picked by a stable
# hash so that a run is repeatable. Each is read as that answer by any careful coordinator.
TYPED_YES: dict[str, list[str]] = {
    "diagnosis": ["yes", "yes, diagnosed in 2018", "yep SLE since 2015", "Yes I have SLE",
                  "yes they did", "yess", "yes, in 2020"],
    "dose_stable": ["yes", "yes same dose for months", "yep hasn't changed", "yes they have",
                    "yea no changes", "yup"],
    "lupus_active": ["yes", "yes it's still flaring", "yeah still active", "yes unfortunately",
                     "yes my rheumatologist says so", "yeah its still active"],
    "symptoms": ["yes, my joints hurt", "yes rash and hair loss", "yeah painful swollen knees",
                 "yes mouth ulcers", "yes", "yes my hands are swollen",
                 "yes, joint pain and a rash on my face"],
    "antibodies": ["yes ANA positive", "yes, anti-dsDNA was high", "yes",
                   "yes my ANA was positive"],
    "guardian": ["yes my mum is here", "yes, my dad is with me", "yes"],
    "guardian_agrees": ["yes she says it's ok", "yes", "yes he's happy for me to do it"],
}
TYPED_NO_GENERIC = ["no", "nope", "No", "no.", "nah", "no never", "noo", "No I haven't",
                    "not at all", "nah never", "no!"]
TYPED_NO: dict[str, list[str]] = {
    "other_autoimmune": ["no just lupus", "no, only lupus"],
    "pregnant": ["no I'm not", "not pregnant", "no"],
    "could_be_pregnant": ["no, my period came last week", "no chance", "no"],
    "breastfeeding": ["no", "nope not breastfeeding"],
    "brain_condition": ["no never", "none of those"],
    "transplant": ["never", "no transplant"],
    "heart_problem": ["no heart problems", "no"],
    "severe_lung": ["no I don't have asthma", "no lung problems"],
    "cancer": ["no cancer", "never had cancer"],
    "recurrent_infections": ["no", "no hospital stays"],
    "active_infection": ["no infections", "no, I'm fine"],
    "hiv": ["no", "negative"],
    "live_vaccine": ["no vaccines recently", "no"],
    "high_dose_steroids": ["no", "no, never that much"],
    "dialysis": ["no dialysis", "no my kidneys are ok"],
    "substance_use": ["no", "no I don't drink"],
    "suicidal_thoughts": ["no", "no, I'm ok"],
    "other_study_drug": ["no", "no this would be my first study"],
    "drug_allergy": ["no allergies", "no"],
    "lupus_crisis": ["no", "no, nothing like that"],
    "fluid_heart_lungs": ["no", "nope"],
}
TYPED_UNSURE = ["not sure", "I don't know", "no idea", "dunno", "I'm not sure"]
TYPED_SEX = {"female": ["female", "woman", "F", "I'm a woman"], "male": ["male", "man", "M"],
             "not_said": ["prefer not to say"]}
# How a patient says an exception again, more plainly, when the bot misread it the first time.
PLAIN_EXCEPTION = {
    "non_melanoma_skin_cancer": "only a basal cell skin cancer, not melanoma, and it was removed",
    "carcinoma_in_situ": "only a carcinoma in situ, fully removed",
    "mild_or_moderate_stable": "only mild asthma, stable on my inhaler",
    "caused_by_lupus": "yes but it was caused by my lupus",
    "febrile_seizure_in_childhood": "only a febrile seizure as a baby",
    "not_live": "only a flu jab, not a live vaccine",
    "preventive_antibiotics": "only preventive antibiotics to prevent infection",
}


@dataclass(frozen=True)
class Expected:
    """The outcome a careful coordinator reaches from the listing."""

    outcome: str  # "lead" or "not_eligible"
    confirm: frozenset[str] = frozenset()  # for a lead: criteria the site must confirm
    criterion: str | None = None  # for a knockout: the criterion that rules the patient out
    minor: bool = False  # a lead for a patient under 18: marked so in the queue

    @property
    def status(self) -> str:
        if self.outcome == "not_eligible":
            return Status.NOT_ELIGIBLE.value
        return (Status.MAY_QUALIFY_CONFIRM if self.confirm else Status.MAY_QUALIFY).value

    def describe(self) -> str:
        if self.outcome == "not_eligible":
            return f"not eligible: {self.criterion}"
        return "lead" + (f", confirm {', '.join(sorted(self.confirm))}" if self.confirm else "")


@dataclass(frozen=True)
class Patient:
    id: str
    style: str  # "typist" or "tapper"
    about: str
    truth: Mapping[str, Any]  # question id -> the true answer (see ``truth_answer``)
    typed: Mapping[str, str]  # question id -> what the patient types for it
    retry: Mapping[str, str]  # question id -> what they type after the bot did not understand
    expected: Expected
    first_name: str
    last_name: str
    other_language: str | None = None

    @property
    def sender(self) -> str:
        return f"sim-{self.id}"

    @property
    def types_everything(self) -> bool:
        return self.style == "typist"

    def says(self, question: Question, attempt: int) -> str:
        """What the patient types for ``question`` on their ``attempt``-th answer to it."""
        qid = question.id
        if attempt > 0:
            return self.retry.get(qid) or plain_words(question, self.truth.get(qid, "no"))
        if qid in self.typed:
            return self.typed[qid]
        return typical_words(self.id, question, self.truth.get(qid, "no"))


def plain_words(question: Question, truth: Any) -> str:
    """The truth said as plainly as possible: what a patient types after "Sorry, I didn't..."."""
    if truth == "unsure":
        return "not sure"
    if isinstance(truth, str) and truth.startswith("exception:"):
        return PLAIN_EXCEPTION[truth.removeprefix("exception:")]
    match question.type:
        case AnswerType.MEDICATIONS:
            if not truth:
                return "none"
            names = {m.id: m.name for m in load_medicines()}
            return " and ".join(
                t.removeprefix(UNKNOWN_MEDICINE) if t.startswith(UNKNOWN_MEDICINE) else names[t]
                for t in truth
            )
        case AnswerType.NUMBER:
            return str(int(truth))
        case AnswerType.DURATION:
            return _plain_duration(float(truth))
    return str(truth)


def typical_words(patient_id: str, question: Question, truth: Any) -> str:
    """A typist's own words for a usual answer, one of the phrasings above."""
    if question.type is AnswerType.CHOICE and truth in TYPED_SEX:
        pool = TYPED_SEX[truth]
    elif truth == "yes":
        pool = TYPED_YES.get(question.id, ["yes"])
    elif truth == "no":
        pool = TYPED_NO.get(question.id, []) + TYPED_NO_GENERIC
    elif truth == "unsure":
        pool = TYPED_UNSURE
    else:
        return plain_words(question, truth)
    return pool[zlib.crc32(f"{patient_id}/{question.id}".encode()) % len(pool)]


def _plain_duration(days: float) -> str:
    if days >= 365 and round(days / 365.25 * 2) == days / 365.25 * 2:
        return f"{days / 365.25:g} years"
    if days % 7 == 0 and days < 120:
        return f"{int(days // 7)} weeks"
    return f"{round(days / 30.44)} months"


def load_patients(path: Path = PATIENTS_FILE) -> list[Patient]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    protocol = get_protocol(TRIAL)
    question_ids = {q.id for q in protocol.questions}
    criterion_ids = {c.id for c in protocol.criteria}
    medicine_ids = {m.id for m in load_medicines()}
    patients = []
    for raw in data["patients"]:
        pid = raw["id"]
        truth: dict[str, Any] = {**DEFAULT_TRUTH, **raw.get("answers", {})}
        typed: dict[str, str] = dict(raw.get("typed", {}))
        retry: dict[str, str] = dict(raw.get("retry", {}))
        truth["age"] = raw["age"]
        typed["age"] = str(raw.get("age_typed", raw["age"]))
        truth["sex"] = raw["sex"]
        meds = raw["medicines"]
        truth["lupus_meds"] = list(meds["ids"])
        typed["lupus_meds"] = meds["typed"]
        if "retry" in meds:
            retry["lupus_meds"] = meds["retry"]
        if "dose" in raw:
            dose = raw["dose"]
            truth["steroid_dose"] = dose.get("prednisone_mg", dose.get("mg", "unsure"))
            typed["steroid_dose"] = dose["typed"]
            plain_dose = f"{dose['mg']} mg a day" if "mg" in dose else "not sure"
            retry.setdefault("steroid_dose", dose.get("retry", plain_dose))
        if "duration" in raw:
            truth["treatment_duration"] = raw["duration"]["days"]
            typed["treatment_duration"] = raw["duration"]["typed"]
        expect = raw["expect"]
        if expect == "not_eligible":
            expected = Expected("not_eligible", criterion=raw["criterion"])
        else:
            expected = Expected("lead", confirm=frozenset(raw.get("confirm", [])),
                                minor=raw["age"] < 18)
        unknown_q = (set(truth) | set(typed) | set(retry)) - question_ids
        unknown_c = ({expected.criterion} - {None}) | set(expected.confirm)
        unknown_m = {m for m in truth["lupus_meds"] if not m.startswith(UNKNOWN_MEDICINE)}
        problems = [
            *(f"question {q}" for q in unknown_q),
            *(f"criterion {c}" for c in unknown_c - criterion_ids),
            *(f"medicine {m}" for m in unknown_m - medicine_ids),
        ]
        if problems or raw["style"] not in ("typist", "tapper"):
            raise ValueError(f"patient {pid}: unknown {', '.join(problems) or 'style'}")
        patients.append(
            Patient(
                id=pid, style=raw["style"], about=raw["about"], truth=truth, typed=typed,
                retry=retry, expected=expected, first_name=raw["name"][0],
                last_name=raw["name"][1], other_language=raw.get("other_language"),
            )
        )
    if len({p.id for p in patients}) != len(patients):
        raise ValueError("two patients share an id")
    return patients


# ---- what the bot said -------------------------------------------------------------------------

_PROGRESS = re.compile(r"^Question \d+ of about \d+\n", re.IGNORECASE)
_PAYLOAD_ANSWER = re.compile(r'^/inform(\{.*\})$', re.DOTALL)


def _texts(replies: Sequence[dict]) -> list[str]:
    return [m.get("text") or "" for m in replies]


def payload_value(payload: str) -> str | None:
    """The answer a button sends: '/inform{"answer": "yes"}' -> "yes"."""
    m = _PAYLOAD_ANSWER.match(payload or "")
    if not m:
        return None
    try:
        value = json.loads(m.group(1)).get("answer")
    except ValueError:
        return None
    return None if value is None else str(value)


@dataclass
class Prompt:
    """What the bot's replies end by asking."""

    kind: str  # question | readback | contact_ask | first_name | ... | knockout | done | unknown
    question: Question | None = None
    text: str = ""
    buttons: list[dict] = field(default_factory=list)
    reask: bool = False  # "Sorry, I didn't quite understand that" came first


class Reader:
    """Recognises the bot's prompts, in the catalogue's own words."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.by_text = {q.text.get(LANG).strip(): q for q in protocol.questions}
        site = protocol.site_name()
        self.fixed = [
            ("readback", msg("readback_ask", LANG)),
            ("contact_ask", msg("contact_ask", LANG, site_name=site)),
            ("first_name", msg("ask_first_name", LANG)),
            ("last_name", msg("ask_last_name", LANG)),
            ("email", msg("ask_email", LANG)),
            ("phone", msg("ask_phone", LANG)),
            ("other_language", msg("ask_other_language", LANG)),
            ("details", msg("ask_details_confirmed", LANG, first_name="\0", last_name="",
                            email="", phone="", language="").split("\0")[0]),
            ("contact_consent", msg("ask_contact_consent", LANG, site_name=site)),
            ("notify", msg("notify_ask", LANG)),
            ("other_trials", msg("other_trials_ask", LANG)),
        ]
        self.reask = msg("reask", LANG, help="\0").split("\0")[0].strip()
        self.knockout = msg("knockout", LANG, reason="\0").split("\0")[0].strip()
        self.lead_done = msg("lead_confirmation", LANG, site_name=site)
        self.ends = [msg("optin_declined", LANG), msg("contact_declined", LANG)]

    def question_in(self, text: str) -> Question | None:
        body = _PROGRESS.sub("", text).split("\nReply ")[0].strip()
        return self.by_text.get(body)

    def prompt(self, replies: Sequence[dict]) -> Prompt:
        texts = _texts(replies)
        reask = any(t.startswith(self.reask) for t in texts)
        for message in reversed(replies):
            text = (message.get("text") or "").strip()
            buttons = list(message.get("buttons") or [])
            question = self.question_in(text)
            if question is not None:
                return Prompt("question", question, text, buttons, reask)
            for kind, words in self.fixed:
                if kind == "readback" and text.endswith(words) and buttons:
                    return Prompt("readback", None, text, buttons)
                if kind == "details" and text.startswith(words):
                    return Prompt(kind, None, text, buttons)
                if kind not in ("readback", "details") and text == words.strip():
                    return Prompt(kind, None, text, buttons)
            if any(text == end.strip() for end in self.ends):
                return Prompt("done", None, text)
        return Prompt("unknown", None, "\n".join(texts))


# ---- checking a read-back against the truth ----------------------------------------------------


def _number(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "year": 365.25}


def readback_question(protocol: Protocol, text: str) -> Question | None:
    """The question a read-back is about. Usually the one just asked, but a reply the bot takes
    for a correction of an earlier answer is read back as that answer."""
    text = text.strip()
    sentinel = "\0"
    for question in protocol.questions:
        if question.type in (AnswerType.YES_NO, AnswerType.CHOICE):
            if readback_verdict(question, text, None) is not None:
                return question
            continue
        dummy: Any = ["x"] if question.type is AnswerType.MEDICATIONS else 1.0
        frames = [readback(question, Interpretation(Answer(question.id, dummy), sentinel), LANG)]
        if question.type is AnswerType.MEDICATIONS:
            frames.append(readback(question, Interpretation(Answer(question.id, []), ""), LANG))
        if question.allow_unsure:
            frames.append(readback(question, Interpretation(Answer.not_sure(question.id),
                                                            sentinel), LANG))
        for frame in frames:
            prefix, _, suffix = frame.strip().partition(sentinel)
            if text.startswith(prefix.strip()) and text.endswith(suffix.strip()):
                return question
    return None


def readback_verdict(question: Question, text: str, truth: Any) -> bool | None:
    """Whether a read-back says what the patient meant: True, False, or None if the patient
    cannot tell what it says (it is in none of the forms the bot uses)."""
    text = text.strip()

    def as_read(answer: Answer, understood: str) -> str:
        return readback(question, Interpretation(answer, understood), LANG).strip()

    match question.type:
        case AnswerType.YES_NO | AnswerType.CHOICE:
            values = ["yes", "no"] if question.type is AnswerType.YES_NO else [
                c.id for c in question.choices
            ]
            candidates = {v: as_read(Answer(question.id, v), describe(question, v, LANG))
                          for v in values}
            if question.allow_unsure:
                candidates["unsure"] = as_read(
                    Answer.not_sure(question.id), msg("option_not_sure", LANG)
                )
            for value, said in candidates.items():
                if said == text:
                    return value == truth
            return None
        case AnswerType.NUMBER:
            said = _number(r"(\d+(?:\.\d+)?)", text)
            return None if said is None else said == float(truth)
        case AnswerType.DOSE:
            said = _number(r"about (\d+(?:\.\d+)?) mg of prednisone", text)
            if said is None:
                said = _number(r"(\d+(?:\.\d+)?) mg", text)
            if said is None:
                return truth == "unsure" if "not sure" in text.lower() else None
            return truth != "unsure" and abs(said - float(truth)) <= 0.02 * max(1.0, float(truth))
        case AnswerType.DURATION:
            m = re.search(r"(\d+(?:\.\d+)?) (day|week|month|year)s?\b", text)
            if m is None:
                return None
            days = float(m.group(1)) * _DAYS[m.group(2)]
            return truth != "unsure" and abs(days - float(truth)) <= 0.08 * float(truth) + 1
        case AnswerType.MEDICATIONS:
            return _medicines_verdict(question, text, list(truth))
    return None


def _medicines_verdict(question: Question, text: str, truth: list[str]) -> bool | None:
    """Every medicine read back is one the patient takes, and each of theirs is read back (a
    name the bot did not know may be read back as not recognised)."""
    if text == readback(question, Interpretation(Answer(question.id, []), ""), LANG).strip():
        return not truth
    sentinel = "\0"
    frame = readback(question, Interpretation(Answer(question.id, ["x"]), sentinel), LANG)
    prefix, suffix = frame.split(sentinel)
    if not (text.startswith(prefix.strip()) and text.endswith(suffix.strip())):
        return None
    listed = text[len(prefix.strip()):len(text) - len(suffix.strip())].strip()
    pieces = [p.strip() for p in listed.split(msg("list_joiner", LANG).strip()) if p.strip()]
    unknown = re.escape(describe(question, [f"{UNKNOWN_MEDICINE}{sentinel}"], LANG)).replace(
        re.escape(sentinel), ".+?"
    )
    known = [describe(question, [t], LANG) for t in truth if not t.startswith(UNKNOWN_MEDICINE)]
    unknown_count = sum(t.startswith(UNKNOWN_MEDICINE) for t in truth)
    for piece in pieces:
        if piece in known:
            known.remove(piece)
        elif unknown_count and re.fullmatch(unknown, piece):
            unknown_count -= 1
        else:
            return False  # a medicine the patient does not take, or a name misread
    return not known and unknown_count == 0


# ---- playing one patient -----------------------------------------------------------------------


@dataclass
class Turn:
    sent: str
    prompt: str  # the kind of prompt answered
    question_id: str | None
    replies: list[str]


@dataclass
class Played:
    """One patient's conversation: every message sent with the bot's replies, and the
    read-backs the patient corrected or could not check."""

    patient: Patient
    turns: list[Turn] = field(default_factory=list)
    caught: list[str] = field(default_factory=list)  # read-backs the patient corrected
    unreadable: list[str] = field(default_factory=list)  # read-backs the patient could not check
    stumbles: list[str] = field(default_factory=list)  # typed replies to a read-back not taken
    error: str | None = None

    def transcript(self) -> str:
        lines = [f"== {self.patient.id} ({self.patient.style}): {self.patient.about}"]
        for turn in self.turns:
            where = f" [{turn.question_id}]" if turn.question_id else ""
            lines.append(f"patient ({turn.prompt}{where}): {turn.sent}")
            lines += [f"    bot: {r}" for r in turn.replies]
        if self.error:
            lines.append(f"!! {self.error}")
        return "\n".join(lines)


def _button(prompt: Prompt, value: str) -> str | None:
    for button in prompt.buttons:
        if payload_value(button.get("payload", "")) == value:
            return button["payload"]
    return None


def _intent_button(prompt: Prompt, intent: str) -> str | None:
    for button in prompt.buttons:
        if button.get("payload") == f"/{intent}":
            return button["payload"]
    return None


def _yes(patient: Patient, prompt: Prompt, typed: str) -> str:
    """Yes to a yes/no prompt: tapped by a tapper where a button says it."""
    if not patient.types_everything:
        tapped = _button(prompt, "yes") or _intent_button(prompt, "affirm")
        if tapped:
            return tapped
    return typed


def _no(patient: Patient, prompt: Prompt, typed: str) -> str:
    if not patient.types_everything:
        tapped = _button(prompt, "no") or _intent_button(prompt, "deny")
        if tapped:
            return tapped
    return typed


def answer_for(patient: Patient, prompt: Prompt, attempt: int) -> str:
    """The patient's reply to a question: a tap where a button says their truth, else words."""
    question = prompt.question
    assert question is not None
    truth = patient.truth.get(question.id, "no")
    if attempt >= MAX_ATTEMPTS - 1 and question.allow_unsure:
        return _button(prompt, "unsure") or "not sure"  # asked too often: the patient gives up
    if patient.types_everything:
        return patient.says(question, attempt)
    if question.type is AnswerType.MEDICATIONS and truth == []:
        return _button(prompt, "none") or patient.says(question, attempt)
    if isinstance(truth, str) and (tapped := _button(prompt, truth)):
        return tapped
    return patient.says(question, attempt)


def play(patient: Patient, talk: Talk, protocol: Protocol | None = None) -> Played:
    """Greets the bot, consents, and answers until the conversation ends."""
    protocol = protocol or get_protocol(TRIAL)
    reader = Reader(protocol)
    played = Played(patient)
    sender = patient.sender
    attempts: dict[str, int] = {}
    rejected: dict[str, int] = {}  # read-backs the patient said were wrong, by their text
    last_question: Question | None = None

    def send(text: str, prompt: Prompt, about: str | None = None) -> Prompt:
        replies = talk(sender, text)
        qid = prompt.question.id if prompt.question else about
        played.turns.append(Turn(text, prompt.kind, qid, _texts(replies)))
        return reader.prompt(replies)

    replies = talk(sender, "hi")
    played.turns.append(Turn("hi", "greeting", None, _texts(replies)))
    if not replies or msg("consent_ask", LANG) not in (replies[-1].get("text") or ""):
        played.error = "no consent question after hi"
        return played
    consent = Prompt("consent", None, replies[-1].get("text") or "",
                     list(replies[-1].get("buttons") or []))
    prompt = send(_yes(patient, consent, "yes ok"), consent)
    done = False
    for _ in range(MAX_TURNS):
        kind = prompt.kind
        if kind == "question":
            question = prompt.question
            assert question is not None
            attempt = attempts.get(question.id, 0)
            attempts[question.id] = attempt + 1
            last_question = question
            prompt = send(answer_for(patient, prompt, attempt), prompt)
        elif kind == "readback":
            about = readback_question(protocol, prompt.text) or last_question
            if about is None:
                played.error = "a read-back before any question"
                break
            truth = patient.truth.get(about.id, "no")
            if attempts.get(about.id, 0) >= MAX_ATTEMPTS:
                truth_ok: bool | None = True  # the patient gives up correcting
            else:
                truth_ok = readback_verdict(about, prompt.text, truth)
            where = about.id if about is last_question else (
                f"{about.id} (a reply to {last_question.id if last_question else '-'})"
            )
            # The same read-back again, right after the patient's reply to it: not a new one.
            again = bool(played.turns) and played.turns[-1].prompt == "readback" and (
                prompt.text in played.turns[-1].replies
            )
            if truth_ok is None and not again:
                played.unreadable.append(f"{where}: {prompt.text}")
            elif truth_ok is False and not again:
                played.caught.append(f"{where}: {prompt.text}")
            if not truth_ok and rejected.setdefault(prompt.text, 0) >= 3:
                played.error = f"the bot reads back the same thing again and again: {prompt.text}"
                break
            if not truth_ok:
                rejected[prompt.text] += 1
            right = truth_ok is True
            typed = "yes that's right" if right else "no, that's wrong"
            value = "yes" if right else "no"
            # A typist whose typed reply to the same read-back was not taken taps the button.
            if again and patient.types_everything:
                played.stumbles.append(
                    f"{where}: typed {played.turns[-1].sent!r} to the read-back and was asked "
                    "the same again"
                )
            tap = not patient.types_everything or again
            reply = (_button(prompt, value) or typed) if tap else typed
            prompt = send(reply, prompt, about.id)
        elif kind == "contact_ask":
            prompt = send(_yes(patient, prompt, "yes please"), prompt)
        elif kind == "first_name":
            prompt = send(patient.first_name, prompt)
        elif kind == "last_name":
            prompt = send(patient.last_name, prompt)
        elif kind == "email":
            prompt = send(f"{patient.first_name}.{patient.id}@example.org".lower(), prompt)
        elif kind == "phone":
            prompt = send(f"+86 139 {zlib.crc32(patient.id.encode()) % 9000 + 1000} 5678", prompt)
        elif kind == "other_language":
            if patient.other_language:
                prompt = send(patient.other_language, prompt)
            else:
                prompt = send(_no(patient, prompt, "no, English is fine"), prompt)
        elif kind == "details":
            prompt = send(_yes(patient, prompt, "yes"), prompt)
        elif kind == "contact_consent":
            prompt = send(_yes(patient, prompt, "yes I agree"), prompt)
        elif kind in ("notify", "other_trials"):
            send(_no(patient, prompt, "no thanks"), prompt)
            done = True
            break
        elif kind == "done":
            done = True
            break
        else:
            played.error = f"no prompt the patient recognises: {prompt.text[-300:]!r}"
            break
    if not done and played.error is None:
        played.error = f"the conversation did not end in {MAX_TURNS} turns"
    return played


# ---- what the store says -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str
    not_met: frozenset[str]
    to_confirm: frozenset[str]  # criteria the patient's own answers left for the site
    lead_outcome: str | None
    lead_to_confirm: frozenset[str] | None
    lead_is_minor: bool | None
    answers: Mapping[str, AnswerRow]

    def describe(self) -> str:
        if self.status == Status.NOT_ELIGIBLE.value:
            return f"not eligible: {', '.join(sorted(self.not_met))}"
        if self.status in (Status.MAY_QUALIFY.value, Status.MAY_QUALIFY_CONFIRM.value):
            extra = f", confirm {', '.join(sorted(self.to_confirm))}" if self.to_confirm else ""
            lead = "" if self.lead_outcome else " (no lead row)"
            return f"lead{extra}{lead}"
        return self.status


def outcome_in_store(database_url: str, sender: str) -> Outcome | None:
    with session_scope(database_url) as session:
        screening = session.execute(
            select(Screening)
            .where(Screening.conversation_id == sender)
            .order_by(Screening.started_at.desc())
        ).scalars().first()
        if screening is None:
            return None
        verdicts = session.execute(
            select(VerdictRow).where(VerdictRow.screening_id == screening.id)
        ).scalars().all()
        lead = session.execute(
            select(Lead).where(Lead.screening_id == screening.id)
        ).scalar_one_or_none()
        rows = session.execute(
            select(AnswerRow).where(
                AnswerRow.screening_id == screening.id, AnswerRow.superseded_at.is_(None)
            )
        ).scalars().all()
        for row in rows:
            session.expunge(row)
        return Outcome(
            status=screening.status,
            not_met=frozenset(
                v.criterion_id for v in verdicts if v.verdict == Verdict.NOT_MET.value
            ),
            to_confirm=frozenset(
                v.criterion_id for v in verdicts
                if v.verdict == Verdict.NEEDS_CONFIRMATION.value and v.patient_specific
            ),
            lead_outcome=lead.outcome if lead else None,
            lead_to_confirm=frozenset(lead.to_confirm) if lead else None,
            lead_is_minor=lead.is_minor if lead else None,
            answers={r.question_id: r for r in rows if not r.pending},
        )


def agrees(expected: Expected, outcome: Outcome | None) -> bool:
    """The bot reached the coordinator's outcome: the same knockout criterion, or a lead in the
    queue with the same criteria for the site to confirm."""
    if outcome is None or outcome.status != expected.status:
        return False
    if expected.outcome == "not_eligible":
        return outcome.not_met == {expected.criterion}
    return (
        outcome.to_confirm == expected.confirm
        and outcome.lead_outcome == expected.status
        and outcome.lead_to_confirm == expected.confirm
        and outcome.lead_is_minor == expected.minor
    )


def at_least_as_careful(expected: Expected, outcome: Outcome | None) -> bool:
    """The bot left the site everything the coordinator would: no false knockout; for a lead, a
    lead in the queue with every criterion the coordinator would check among the site's checks;
    for a patient the coordinator rules out, the same knockout, or a lead with that criterion for
    the site to confirm. Extra checks cost the site a call; they never lose a patient."""
    if outcome is None:
        return False
    if expected.outcome == "not_eligible":
        if outcome.status == Status.NOT_ELIGIBLE.value:
            return outcome.not_met == {expected.criterion}
        return expected.criterion in outcome.to_confirm
    return (
        outcome.status != Status.NOT_ELIGIBLE.value
        and outcome.lead_outcome is not None
        and expected.confirm <= outcome.to_confirm
        and expected.confirm <= (outcome.lead_to_confirm or frozenset())
        and outcome.lead_is_minor == expected.minor
    )


def false_knockout(expected: Expected, outcome: Outcome | None) -> bool:
    """The patient could take part (or be checked by the site), and the bot turned them away."""
    return (
        expected.outcome == "lead"
        and outcome is not None
        and outcome.status == Status.NOT_ELIGIBLE.value
    )


def answer_matches(question: Question, row: AnswerRow, truth: Any) -> bool:
    """Whether a stored answer says what the patient meant."""
    if truth == "unsure":
        return row.unsure
    if isinstance(truth, str) and truth.startswith("exception:"):
        return row.exception == truth.removeprefix("exception:")
    if row.unsure or row.exception:
        return False
    value = row.value
    match question.type:
        case AnswerType.MEDICATIONS:
            known = sorted(v for v in value if not str(v).startswith(UNKNOWN_MEDICINE))
            unknown = sum(str(v).startswith(UNKNOWN_MEDICINE) for v in value)
            want_known = sorted(t for t in truth if not t.startswith(UNKNOWN_MEDICINE))
            want_unknown = sum(t.startswith(UNKNOWN_MEDICINE) for t in truth)
            return known == want_known and unknown == want_unknown
        case AnswerType.DOSE:
            return abs(float(value) - float(truth)) <= 0.02 * max(1.0, float(truth))
        case AnswerType.DURATION:
            return abs(float(value) - float(truth)) <= 0.08 * float(truth) + 1
        case AnswerType.NUMBER:
            return float(value) == float(truth)
    return value == truth


def misread_answers(played: Played, outcome: Outcome | None, protocol: Protocol) -> list[str]:
    """The stored answers that differ from the patient's truth, each with the message that gave
    it: the turn where the screening went wrong."""
    if outcome is None:
        return []
    found = []
    for question in protocol.questions:
        row = outcome.answers.get(question.id)
        if row is None:
            continue
        truth = played.patient.truth.get(question.id, "no")
        if answer_matches(question, row, truth):
            continue
        sent = [t.sent for t in played.turns if t.question_id == question.id]
        found.append(
            f"{question.id}: typed {row.raw_text!r} (sent {sent!r}); understood "
            f"{row.understood!r} value={row.value!r} unsure={row.unsure} "
            f"exception={row.exception}; truth {truth!r}"
        )
    return found


def engine_on_truth(patient: Patient, protocol: Protocol) -> Expected:
    """What the engine decides on the patient's true answers, read perfectly: tells a misreading
    (the truth gives the coordinator's outcome) from a rule that differs from the listing."""
    answers: dict[str, Answer] = {}
    for _ in range(len(protocol.questions) + 1):
        evaluation = evaluate(protocol, answers)
        question = evaluation.next_question
        if evaluation.finished or question is None:
            break
        truth = patient.truth.get(question.id, "no")
        if truth == "unsure":
            answers[question.id] = Answer.not_sure(question.id)
        elif isinstance(truth, str) and truth.startswith("exception:"):
            answers[question.id] = Answer(question.id, "yes",
                                          exception=truth.removeprefix("exception:"))
        elif question.type is AnswerType.MEDICATIONS:
            answers[question.id] = Answer(question.id, list(truth))
        elif question.type in (AnswerType.NUMBER, AnswerType.DOSE, AnswerType.DURATION):
            answers[question.id] = Answer(question.id, float(truth))
        else:
            answers[question.id] = Answer(question.id, truth)
    if evaluation.status is Status.NOT_ELIGIBLE:
        return Expected("not_eligible", criterion=",".join(c.id for c in evaluation.reasons))
    return Expected("lead", confirm=frozenset(c.id for c in evaluation.to_confirm))
