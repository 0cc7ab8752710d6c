"""The medicines table (``bot/medicines.yml``), and the medicines a reply names.

A reply is read for the medicines taken, those named as stopped, the steroid dose given with a
steroid, and the words that may be names the table does not know: those are reported, never
dropped, so that the bot can ask about them or leave them for the study site.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.answers.doses import parse_daily_dose_mg
from bot.answers.text import normalise
from bot.answers.words import canonical, characters, word_list, word_pattern
from bot.answers.yes_no import _UNSURE

MEDICINES_PATH = Path(__file__).resolve().parent.with_name("medicines.yml")
DRUG_CLASSES = frozenset(
    {"glucocorticoid", "immunosuppressant", "biologic", "antimalarial", "nsaid", "other"}
)


@dataclass(frozen=True)
class Medicine:
    id: str
    name: str
    drug_class: str
    names: tuple[str, ...]
    prednisone_equivalent: float | None = None


_MEDICINE_KEYS = frozenset({"id", "name", "class", "names", "prednisone_equivalent"})
_NAME_TOKEN = re.compile(r"[^\W_]+")


def _normalised(text: str) -> str:
    """Normalised, and in the characters the words files use: "強的松" is "强的松"."""
    return characters(normalise(text))


def _name_key(name: str) -> str:
    """A name as matched: "Cell-Cept", "cell cept" and "cellcept" are all "cellcept"."""
    return "".join(_NAME_TOKEN.findall(_normalised(name)))


def load_medicines(path: Path | None = None) -> tuple[Medicine, ...]:
    """The medicines table; ``bot/medicines.yml`` unless ``path`` is given.

    Raises ValueError, naming the entry, if the file is malformed.
    """
    if path is None:
        return _load_default_medicines()
    return _read_medicines(Path(path))


@functools.lru_cache(maxsize=1)
def _load_default_medicines() -> tuple[Medicine, ...]:
    return _read_medicines(MEDICINES_PATH)


def _read_medicines(path: Path) -> tuple[Medicine, ...]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("medicines"), list):
        raise ValueError(f"{path}: expected a mapping with a 'medicines' list")
    medicines: list[Medicine] = []
    owners: dict[str, str] = {}
    for index, raw in enumerate(data["medicines"]):
        medicine = _medicine(raw, f"{path}: medicines[{index}]")
        if medicine.id in {m.id for m in medicines}:
            raise ValueError(f"{path}: medicine '{medicine.id}' is listed twice")
        for name in medicine.names:
            key = _name_key(name)
            owner = owners.setdefault(key, medicine.id)
            if owner != medicine.id:
                raise ValueError(
                    f"{path}: medicine '{medicine.id}': the name '{name}' "
                    f"already belongs to '{owner}'"
                )
        medicines.append(medicine)
    return tuple(medicines)


def _medicine(raw: Any, where: str) -> Medicine:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping with id, name, class and names")
    mid = raw.get("id")
    if not isinstance(mid, str) or not re.fullmatch(r"[a-z0-9_]+", mid):
        raise ValueError(f"{where}: 'id' must be lower-case letters, digits and '_'")
    where = f"{where} ('{mid}')"
    unknown = set(raw) - _MEDICINE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'name' must be a non-empty text")
    drug_class = raw.get("class")
    if drug_class not in DRUG_CLASSES:
        raise ValueError(f"{where}: 'class' must be one of {sorted(DRUG_CLASSES)}")
    names = raw.get("names")
    if not isinstance(names, list) or not names:
        raise ValueError(f"{where}: 'names' must be a non-empty list")
    if not all(isinstance(n, str) and _name_key(n) for n in names):
        raise ValueError(f"{where}: every name must be a non-empty text")
    for n in names:
        if _CJK_CHAR.search(n) and len(_name_key(n)) < 2:
            raise ValueError(f"{where}: the Chinese name '{n}' needs at least two characters")
    equivalent = raw.get("prednisone_equivalent")
    if equivalent is not None:
        if isinstance(equivalent, bool) or not isinstance(equivalent, int | float):
            raise ValueError(f"{where}: 'prednisone_equivalent' must be a number or null")
        if equivalent <= 0:
            raise ValueError(f"{where}: 'prednisone_equivalent' must be positive")
        if drug_class != "glucocorticoid":
            raise ValueError(f"{where}: only a glucocorticoid has a 'prednisone_equivalent'")
    unique = tuple(dict.fromkeys(normalise(n) for n in names))
    return Medicine(
        mid,
        name.strip(),
        drug_class,
        unique,
        float(equivalent) if equivalent is not None else None,
    )


# ---- finding names in a reply -----------------------------------------------------------------

# Chinese (and other CJK) ideographs. Chinese is written without spaces, so each character is a
# token of its own and a Chinese name is found as the longest run of characters that is a name.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
# What may separate the words of one name: "cell cept", "rc-18", "tai'ai". Chinese characters of
# one name are never apart.
_JOIN_GAP = re.compile(r"[\s'\-]*")
# A name made of several tokens is at least this long, so that "m p" is never "MP".
_MIN_JOINED_KEY = 4

# Everyday words within one letter of a medicine's name (bot/answers/words/en.yml).
_COMMON_WORDS = frozenset(word_list("medicines_common_words"))
_FUZZY_MIN_LENGTH = 6
_FUZZY_RATIO = 0.85
_FUZZY_MARGIN = 0.03
_TYPO_CACHE_SIZE = 4096
# A mention within a few words after one of these is a medicine the patient does not take.
_NEGATIONS = frozenset(word_list("medicines_negations"))
# ... and these phrases, a little further back: "I used to take HCQ", "previously on MTX", and
# medicines not started yet: "they want to start me on rituximab", "I'm about to start cellcept".
_NEGATING_PHRASES = re.compile(
    r"\b(?:used to|no longer|in the past|previously|formerly|not any ?more)\b"
)
_NOT_YET = re.compile(
    r"\b(?:(?:about|going|want|wants|wanted|plan|plans|planning|due|waiting|supposed|hoping) to "
    r"(?:start|begin|try|switch to|go on|put me on)"
    r"|will (?:start|begin|be starting|be put on)|start me on|starting me on)\b"
)
# Where a clause ends; other languages' words from the words files (bot/answers/words/*.yml).
_CLAUSE_BREAK = re.compile(
    r"[,;.!?:()\[\]/]|\b(?:but|however|only|just|except|also|although|though|now|"
    r"currently|then|instead|whereas|while|plus)\b|"
    + word_pattern("medicines_clause_break_patterns").pattern
)
_NEGATION_WINDOW = 4
_REPLY_NO = frozenset({"no", "nope", "nah"})
_FIRST_PERSON = ("i take", "i use", "i'm on", "im on", "i am on", "i have", "i'm taking",
                 "im taking", "i am taking", "i only", "i just", "only", "just")  # fmt: skip
_PHRASE_WINDOW = 6
_PREFIX_CHARS = 160  # enough for any negation window: keeps long replies fast
# Languages without spaces ("不吃激素", "停了骁悉", "准备用贝利尤单抗": not yet): negations looked
# for in the few characters of the clause before a name, from the words files.
_CJK_NEGATION = word_pattern("medicines_negation_patterns")
# A new start ends what a negation before it said: "stopped cellcept and started prednisone",
# "骁悉停了以后开始吃强的松".
_RESTARTS = frozenset(word_list("medicines_restarts"))
_CJK_RESTART = word_pattern("medicines_restart_patterns")
# Right before a name: "switched from Imuran to CellCept", "instead of MTX".
_REPLACED = re.compile(
    r"\b(?:(?:switched|switching|changed|changing|moved|came|coming|taken) (?:over )?(?:off )?"
    r"(?:to [^\W_]+(?: [^\W_]+)? )?from|instead of|rather than|in place of|replaced|replacing)$"
)
_CJK_UNSURE = word_pattern("medicines_unsure_patterns")
_CJK_NEGATION_WINDOW = 8
# After a name: "Imuran, but I stopped it", "cellcept (stopped)", "MTX in the past", "骁悉停了".
_STOPPED_AFTER = re.compile(
    r"\b(?:(?:stopped|quit|discontinued|finished|ended|came off|come off|weaned off) "
    r"(?:it|them|that|those|this|taking|using)"
    r"|(?:was|were|is|are|got|been) (?:stopped|discontinued|ended|finished|withdrawn|taken off)"
    r"|(?:stopped|discontinued|quit|finished)(?= *(?:$|[,.;:)!?\-]|\d|in \d|last\b|already\b|"
    r"recently\b|since\b|a while\b|a few\b|a couple\b|before\b|years?\b|months?\b|weeks?\b|"
    r"ago\b|because\b|due\b|after\b|when\b|in (?:january|february|march|april|may|june|july|"
    r"august|september|october|november|december)\b))"
    r"|no longer|not any ?more|not now|off it|off them|used to|in the past|previously|formerly"
    r"|(?:not|n't)(?: [^\W_]+){0,3} any ?more)|"
    + word_pattern("medicines_stopped_after_patterns").pattern
)
_STOPPED_AFTER_WORDS = 8  # how far after the last name a "stopped" still refers to it
# A stop that did not happen: "I haven't stopped prednisone", "never stopped it", "还没停".
_NOT_STOPPED = re.compile(
    r"\b(?:not|never|haven't|havent|hasn't|hasnt|didn't|didnt|don't|dont|won't|wont|can't|cant|"
    r"cannot|wasn't|wasnt|isn't|isnt)(?: [^\W_]+)? (?:stopped|stop|stopping|quit|discontinued|"
    r"been stopped)\b|"
    + word_pattern("medicines_not_stopped_patterns").pattern
)


@dataclass(frozen=True)
class _MedicineIndex:
    exact: dict[str, Medicine]
    fuzzy: tuple[tuple[str, Medicine], ...]
    longest: int  # most tokens in one name
    prefixes: frozenset[str]  # every beginning of a name, to stop looking early
    typos: dict[str, Medicine | None]  # words already looked up for a typo


@functools.lru_cache(maxsize=8)
def _index(medicines: tuple[Medicine, ...]) -> _MedicineIndex:
    exact: dict[str, Medicine] = {}
    longest = 1
    for medicine in medicines:
        for name in medicine.names:
            key = _name_key(name)
            if key and key not in exact:
                exact[key] = medicine
                longest = max(longest, len(_TOKEN.findall(normalise(name))))
    # A typo is forgiven only in the names of lupus treatments: "restore" is not Crestor, and a
    # misspelt immunosuppressant is never taken for a supplement.
    fuzzy = tuple(
        (key, m)
        for key, m in exact.items()
        if key.isalpha()
        and len(key) >= _FUZZY_MIN_LENGTH
        and not _CJK_CHAR.search(key)
        and m.drug_class != "other"
    )
    prefixes = frozenset(key[:n] for key in exact for n in range(1, len(key) + 1))
    return _MedicineIndex(exact, fuzzy, longest + 1, prefixes, {})


@dataclass(frozen=True)
class _Mention:
    medicine: Medicine
    start: int  # character offsets in the normalised text
    end: int
    negated: bool


def _fuzzy_medicine(word: str, index: _MedicineIndex) -> Medicine | None:
    """The medicine ``word`` is a one-letter typo of, if exactly one is that close."""
    if len(word) < _FUZZY_MIN_LENGTH or not word.isalpha() or word in _COMMON_WORDS:
        return None
    if word in _STOP_WORDS or _CJK_CHAR.search(word):
        return None
    if word in index.typos:
        return index.typos[word]
    scores: dict[str, tuple[float, Medicine]] = {}
    matcher = difflib.SequenceMatcher(None, "", word, autojunk=False)
    for key, medicine in index.fuzzy:
        if abs(len(key) - len(word)) > 2:
            continue
        matcher.set_seq1(key)
        if matcher.real_quick_ratio() < _FUZZY_RATIO or matcher.quick_ratio() < _FUZZY_RATIO:
            continue
        score = matcher.ratio()
        if score >= _FUZZY_RATIO and score > scores.get(medicine.id, (0.0, medicine))[0]:
            scores[medicine.id] = (score, medicine)
    ranked = sorted(scores.values(), key=lambda s: s[0], reverse=True)
    found = None
    if ranked and (len(ranked) == 1 or ranked[0][0] - ranked[1][0] >= _FUZZY_MARGIN):
        found = ranked[0][1]
    if len(index.typos) >= _TYPO_CACHE_SIZE:
        index.typos.clear()
    index.typos[word] = found
    return found


def _is_negated(text: str, start: int) -> bool:
    """ "no steroids", "I don't take prednisone", "stopped cellcept", "不吃激素": not taken."""
    prefix = _UNSURE.sub(lambda m: "," + " " * (len(m.group()) - 1), text[:start][-_PREFIX_CHARS:])
    prefix = _CJK_UNSURE.sub(lambda m: "," * len(m.group()), prefix)
    if _REPLACED.search(" ".join(_WORD.findall(prefix)[-_PHRASE_WINDOW:])):
        return True
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end() :] if breaks else prefix
    words = _WORD.findall(clause)
    if _NOT_STOPPED.search(" ".join(words[-_PHRASE_WINDOW:])) or _NOT_STOPPED.search(clause[-8:]):
        return False
    if _NOT_YET.search(" ".join(words[-_PHRASE_WINDOW:])):
        return True
    restart = max((j + 1 for j, w in enumerate(words) if w in _RESTARTS), default=0)
    window = words[max(restart, len(words) - _NEGATION_WINDOW) :]
    if any(w in _NEGATIONS and not _is_reply_no(window, j) for j, w in enumerate(window)):
        return True
    if _NEGATING_PHRASES.search(" ".join(words[max(restart, len(words) - _PHRASE_WINDOW) :])):
        return True
    tail = clause[-_CJK_NEGATION_WINDOW:]
    restarts = list(_CJK_RESTART.finditer(tail))
    if restarts:
        tail = tail[restarts[-1].end() :]
    return _CJK_NEGATION.search(tail) is not None


def _is_reply_no(words: Sequence[str], j: int) -> bool:
    """ "no I take prednisone": a "no" to the question, not to the medicine."""
    return words[j] in _REPLY_NO and " ".join(words[j + 1 : j + 3]).startswith(_FIRST_PERSON)


def _is_stopped_after(text: str, mention: _Mention, following: _Mention | None) -> bool:
    """A "stopped" after a name, before the clause of the next name, is about this one."""
    if following is None:
        region = text[mention.end :]
        words = list(_WORD.finditer(region))
        if len(words) > _STOPPED_AFTER_WORDS:
            region = region[: words[_STOPPED_AFTER_WORDS - 1].end()]
    else:
        between = text[mention.end : following.start]
        breaks = list(_CLAUSE_BREAK.finditer(between))
        region = between[: breaks[-1].end()] if breaks else ""
    region = _UNSURE.sub(",", region)
    region = _CJK_UNSURE.sub(",", region)
    if _NOT_STOPPED.search(" ".join(_WORD.findall(region))) or _NOT_STOPPED.search(region):
        return False
    return _STOPPED_AFTER.search(region) is not None


def _joinable(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    gap = text[left.end() : right.start()]
    if _CJK_CHAR.match(left.group()) and _CJK_CHAR.match(right.group()):
        return not gap
    return _JOIN_GAP.fullmatch(gap) is not None


def _medicine_matches(text: str, medicines: Sequence[Medicine]) -> list[_Mention]:
    """Every mention of a medicine in normalised ``text``, negated or not, in order."""
    index = _index(tuple(medicines))
    tokens = list(_TOKEN.finditer(text))
    found: list[tuple[Medicine, int, int]] = []
    i = 0
    while i < len(tokens):
        medicine: Medicine | None = None
        width = 1
        key = ""
        for k in range(1, min(index.longest, len(tokens) - i) + 1):
            if k > 1 and not _joinable(text, tokens[i + k - 2], tokens[i + k - 1]):
                break
            key += tokens[i + k - 1].group()
            if key not in index.prefixes:
                break  # no longer name starts like this
            named = index.exact.get(key)
            if named is not None and (
                k == 1 or len(key) >= _MIN_JOINED_KEY or _CJK_CHAR.search(key)
            ):
                medicine, width = named, k  # the longest name wins
        if medicine is None:
            medicine = _fuzzy_medicine(tokens[i].group(), index)
        if medicine is not None:
            found.append((medicine, tokens[i].start(), tokens[i + width - 1].end()))
        i += width
    mentions: list[_Mention] = []
    for n, (medicine, start, end) in enumerate(found):
        mention = _Mention(medicine, start, end, _is_negated(text, start))
        if not mention.negated:
            following = found[n + 1] if n + 1 < len(found) else None
            after = _Mention(following[0], following[1], following[2], False) if following else None
            if _is_stopped_after(text, mention, after):
                mention = _Mention(medicine, start, end, True)
        mentions.append(mention)
    return mentions


# ---- what is left: names the table does not know ----------------------------------------------

_WORD = re.compile(rf"[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)*")
_SPAN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)*")


# A number, a dose or a date: "10mg", "1g", "2x", "x2", "q12h", "2nd", "2020", "1990s".
_NUMBERISH = re.compile(
    r"\d+(?:x\d+)?(?:st|nd|rd|th|s|mg|mgs|g|gm|gms|mcg|ug|μg|ml|mls|iu|u|kg|x|h|hr|hrs|hours?|"
    r"am|pm|d|days?|w|wk|wks|weeks?|m|mo|mos|months?|y|yr|yrs|years?|tabs?|tablets?|pills?|"
    r"caps?|times?|min|mins)?|x\d+|q\d+h|q\d+hrs?|[ivx]+"
)
# Everyday words and medicine talk: not a medicine's name (bot/answers/words/en.yml). A word
# missing there is reported as unrecognised, which is the safe side to err on.
_STOP_WORDS = frozenset(word_list("medicines_stop_words"))
# Filler and words that may hide a medicine, in languages without spaces (the words files).
_CJK_FILLER = frozenset(word_list("medicines_filler"))
_CJK_FILLER_LONGEST = max((len(w) for w in _CJK_FILLER), default=1)
_CJK_REPORTED = frozenset(word_list("medicines_reported"))
_CJK_REPORTED_LONGEST = max((len(w) for w in _CJK_REPORTED), default=2)
_PHRASE_MOST_WORDS = 3
# "something" alone may be a medicine not named ("and something else"); "something called X"
# names it.
_FILLER_PHRASES = re.compile(r"\bsomething (?:called|named|like)\b")


def _is_filler_word(word: str) -> bool:
    return word in _STOP_WORDS or _NUMBERISH.fullmatch(word) is not None


def _cjk_leftovers(run: str) -> list[str]:
    """The pieces of a run of Chinese characters that are not filler, longest filler first."""
    pieces: list[str] = []
    current = ""
    i = 0
    while i < len(run):
        reported = next(
            (
                run[i : i + k]
                for k in range(min(_CJK_REPORTED_LONGEST, len(run) - i), 1, -1)
                if run[i : i + k] in _CJK_REPORTED
            ),
            None,
        )
        if reported is not None:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(reported)
            i += len(reported)
            continue
        for k in range(min(_CJK_FILLER_LONGEST, len(run) - i), 0, -1):
            if run[i : i + k] in _CJK_FILLER:
                if current:
                    pieces.append(current)
                    current = ""
                i += k
                break
        else:
            current += run[i]
            i += 1
    if current:
        pieces.append(current)
    return pieces


def _unrecognised(text: str, mentions: Sequence[_Mention]) -> list[str]:
    """Words and short phrases that are neither a known name, nor filler, nor a number."""
    masked = list(text)
    for mention in mentions:
        masked[mention.start : mention.end] = "\0" * (mention.end - mention.start)
    for pattern in (_UNSURE, _FILLER_PHRASES):
        for m in pattern.finditer(text):
            masked[m.start() : m.end()] = "\0" * (m.end() - m.start())
    blanked = "".join(masked)
    phrases: list[str] = []
    current: list[str] = []
    last_end = 0

    def close() -> None:
        if current:
            phrases.append(" ".join(current))
            current.clear()

    for m in _SPAN.finditer(blanked):
        span = m.group()
        if _CJK_CHAR.match(span):
            close()
            phrases.extend(_cjk_leftovers(span))
        elif _is_filler_word(span):
            close()
        else:
            gap = blanked[last_end : m.start()]
            if current and (gap.strip(" -") or len(current) >= _PHRASE_MOST_WORDS):
                close()
            current.append(span)
        last_end = m.end()
    close()
    return list(dict.fromkeys(phrases))


# ---- the reading -------------------------------------------------------------------------------

# Words for a class of medicine, not a medicine: "steroids", "激素", "生物制剂".
_GENERAL_NAMES = frozenset(
    {"steroid_unspecified", "immunosuppressant_unspecified", "biologic_unspecified"}
)


@dataclass(frozen=True)
class MedicineReading:
    """What a reply about medicines says: what is taken, what was stopped, what is unknown."""

    taken: tuple[Medicine, ...]  # in the order named, each once
    stopped: tuple[Medicine, ...]  # named as stopped or not taken; never also in ``taken``
    unrecognised: tuple[str, ...]  # words that may name a medicine the table does not know


def read_medicines(text: str, medicines: Sequence[Medicine] | None = None) -> MedicineReading:
    """The medicines a reply names, those named as stopped or not taken, and unknown words.

    Names are matched as whole words, case-insensitively, with one typo allowed in names of six
    letters or more; Chinese names are found inside Chinese text. A medicine named in the
    negative ("no steroids", "I stopped Imuran", "used to take HCQ", "cellcept, stopped in 2020",
    "停了骁悉") is stopped, and a medicine named both ways counts as stopped. Whatever is left
    after known names, numbers, doses and everyday words is reported as unrecognised, normalised
    ("xeljanz", "chinese herbs"), so that no name is silently dropped.
    """
    table = load_medicines() if medicines is None else medicines
    t = _normalised(text)
    mentions = _medicine_matches(t, table)
    stopped = {m.medicine.id: m.medicine for m in mentions if m.negated}
    taken: dict[str, Medicine] = {}
    for mention in mentions:
        if not mention.negated and mention.medicine.id not in stopped:
            taken.setdefault(mention.medicine.id, mention.medicine)
    # "激素（美卓乐）", "steroids (prednisone)": the general word is the medicine named with it.
    for general in [m for m in taken.values() if m.id in _GENERAL_NAMES]:
        if any(m.drug_class == general.drug_class and m.id != general.id for m in taken.values()):
            del taken[general.id]
    return MedicineReading(
        tuple(taken.values()), tuple(stopped.values()), tuple(_unrecognised(t, mentions))
    )


def find_medicines(text: str, medicines: Sequence[Medicine] | None = None) -> list[Medicine]:
    """The medicines the patient says they take, in the order named, each once.

    A medicine named only in the negative ("no steroids", "I stopped Imuran") is left out, so
    that "I don't take steroids" is not read as taking a steroid. See ``read_medicines``.
    """
    return list(read_medicines(text, medicines).taken)


# ---- the dose of the one steroid named ---------------------------------------------------------

_UNSPECIFIED_STEROID = "steroid_unspecified"
_HAS_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|sixty|half)\b|"
    + word_pattern("medicines_number_marks").pattern
)
# Where the words before a name stop belonging to it: "cellcept 1g, 10 mg prednisone".
_DOSE_BREAK = re.compile(
    r"[;!?()\[\]/、，。；！？\n]|,(?!\d{3})|(?<!\d)\.|\.(?!\d)|"
    r"\b(?:and|plus|also|with|but|then)\b|&|\+|"
    + word_pattern("medicines_dose_break_patterns").pattern
)
_MASS = re.compile(r"\d\s*(?:mg|mgs|milligrams?|g|gm|gms|grams?|mcg|ug|μg|micrograms?)\b")
_BARE_NUMBER = re.compile(r"\s*[:\-]?\s*(\d+(?:\.\d+)?)(?![\d.])")
_MOST_BARE_MG = 100.0
def _dose_words(segment: str) -> str:
    """A dose in the parsers' words, whatever the language: "每天两片5毫克" is read as
    "a day 2 tablets 5 mg" (``bot/answers/words``)."""
    return canonical(segment, "dose")


def steroid_dose_in(
    text: str, medicines: Sequence[Medicine] | None = None
) -> tuple[Medicine, float] | None:
    """The one steroid named with its own dose, and that dose in mg a day as written.

    "pred 10mg and MMF" is (prednisone, 10.0); "medrol 4 mg daily, cellcept 1g twice a day" is
    (methylprednisolone, 4.0): not converted to prednisone equivalents. The dose is read from
    the steroid's own part of the reply, up to the next medicine named (or, when nothing follows
    the name, from the words just before it: "10 mg of prednisone"). None when no steroid is
    taken, when several are, or when its dose cannot be read for sure.
    """
    table = load_medicines() if medicines is None else medicines
    t = _normalised(text)
    mentions = _medicine_matches(t, table)
    stopped = {m.medicine.id for m in mentions if m.negated}
    steroids = [
        (n, m)
        for n, m in enumerate(mentions)
        if m.medicine.drug_class == "glucocorticoid"
        and not m.negated
        and m.medicine.id not in stopped
    ]
    ids = {m.medicine.id for _, m in steroids}
    if len(ids) > 1:  # "my steroid is prednisone": the general word is the named one
        ids.discard(_UNSPECIFIED_STEROID)
        steroids = [(n, m) for n, m in steroids if m.medicine.id in ids]
    if len(ids) != 1:
        return None
    doses: set[float] = set()
    for n, _ in steroids:
        segment = _dose_segment(t, mentions, n)
        if segment is None:
            continue
        dose = parse_daily_dose_mg(segment)
        if dose is None:
            return None
        doses.add(dose)
    if len(doses) != 1:
        return None
    return steroids[0][1].medicine, doses.pop()


def _dose_segment(text: str, mentions: Sequence[_Mention], n: int) -> str | None:
    """The words about the dose of mention ``n``; None if they have no number."""
    mention = mentions[n]
    stop = mentions[n + 1].start if n + 1 < len(mentions) else len(text)
    after = text[mention.end : stop]
    if n + 1 < len(mentions):
        breaks = list(_DOSE_BREAK.finditer(after))
        if breaks and _HAS_NUMBER.search(after[breaks[-1].end() :]):
            after = after[: breaks[-1].start()]  # "... and 2g of cellcept": cellcept's dose
    before = text[mentions[n - 1].end if n else 0 : mention.start]
    breaks = list(_DOSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    elif n:
        before = ""  # "cellcept 1g prednisone": the number is cellcept's
    if not _HAS_NUMBER.search(before):
        before = ""  # "10 mg of prednisone", "2 tablets of prednisone 5mg": the words before count
    segment = f"{before} {after}"
    return segment if _HAS_NUMBER.search(segment) and _is_dose(segment, after) else None


def _is_dose(segment: str, after: str) -> bool:
    """A number in mg, or a plain number of 100 or less right after the name ("pred 10"); not
    "prednisone since 2019"."""
    if _MASS.search(_dose_words(segment)):
        return True
    bare = _BARE_NUMBER.match(after)
    return bare is not None and float(bare.group(1)) <= _MOST_BARE_MG
