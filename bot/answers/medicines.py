"""The medicines table (``bot/medicines.yml``), and the medicines a reply names."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.answers.text import normalise
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


def _name_key(name: str) -> str:
    """A name as matched: "Cell-Cept", "cell cept" and "cellcept" are all "cellcept"."""
    return "".join(_NAME_TOKEN.findall(normalise(name)))


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


# Everyday words that are within one letter of a medicine's name: never read as that medicine.
_COMMON_WORDS = frozenset(
    {
        "asteroid", "asteroids", "steroidal", "nonsteroidal", "immunosuppressed",
        "immunosuppression", "immunosuppress", "motoring", "program", "programs", "programme",
        "programmes", "prograde", "celebrate", "celebrated", "celebrates", "general", "neural",
        "mineral", "medical", "imagine",
    }
)  # fmt: skip
_FUZZY_MIN_LENGTH = 6
_FUZZY_RATIO = 0.85
_FUZZY_MARGIN = 0.03
# A mention within a few words after one of these is a medicine the patient does not take.
_NEGATIONS = frozenset(
    {"no", "not", "never", "without", "stopped", "stop", "quit", "off", "nor", "neither",
     "none", "don't", "dont", "doesn't", "doesnt", "didn't", "didnt", "haven't", "havent",
     "hasn't", "hasnt", "isn't", "isnt", "wasn't", "wasnt", "aren't", "arent", "won't", "wont",
     "cannot", "can't", "cant", "discontinued", "finished", "ended", "weaned"}
)  # fmt: skip
_CLAUSE_BREAK = re.compile(
    r"[,;.!?:()\[\]/]|\b(?:but|however|only|just|except|also|although|though|now|currently|"
    r"then|instead|whereas|while|plus)\b"
)
_NEGATION_WINDOW = 4


@dataclass(frozen=True)
class _MedicineIndex:
    exact: dict[str, Medicine]
    fuzzy: tuple[tuple[str, Medicine], ...]
    longest: int  # most tokens in one name


@functools.lru_cache(maxsize=8)
def _index(medicines: tuple[Medicine, ...]) -> _MedicineIndex:
    exact: dict[str, Medicine] = {}
    longest = 1
    for medicine in medicines:
        for name in medicine.names:
            key = _name_key(name)
            if key and key not in exact:
                exact[key] = medicine
                longest = max(longest, len(_NAME_TOKEN.findall(normalise(name))))
    fuzzy = tuple(
        (key, m) for key, m in exact.items() if key.isalpha() and len(key) >= _FUZZY_MIN_LENGTH
    )
    return _MedicineIndex(exact, fuzzy, longest + 1)


@dataclass(frozen=True)
class _Mention:
    medicine: Medicine
    start: int  # character offset in the normalised text
    negated: bool


def _fuzzy_medicine(word: str, index: _MedicineIndex) -> Medicine | None:
    """The medicine ``word`` is a one-letter typo of, if exactly one is that close."""
    if len(word) < _FUZZY_MIN_LENGTH or not word.isalpha() or word in _COMMON_WORDS:
        return None
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
    if not ranked or (len(ranked) > 1 and ranked[0][0] - ranked[1][0] < _FUZZY_MARGIN):
        return None
    return ranked[0][1]


def _is_negated(text: str, start: int) -> bool:
    """ "no steroids", "I don't take prednisone", "stopped cellcept": not taken."""
    prefix = _UNSURE.sub(lambda m: "," + " " * (len(m.group()) - 1), text[:start])
    breaks = list(_CLAUSE_BREAK.finditer(prefix))
    clause = prefix[breaks[-1].end() :] if breaks else prefix
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", clause)[-_NEGATION_WINDOW:]
    return any(w in _NEGATIONS for w in words)


def _medicine_matches(text: str, medicines: Sequence[Medicine]) -> list[_Mention]:
    """Every mention of a medicine in normalised ``text``, negated or not, in order."""
    index = _index(tuple(medicines))
    words = [(m.group(), m.start()) for m in _NAME_TOKEN.finditer(text)]
    mentions: list[_Mention] = []
    i = 0
    while i < len(words):
        found: Medicine | None = None
        width = 1
        for k in range(min(index.longest, len(words) - i), 0, -1):
            medicine = index.exact.get("".join(w for w, _ in words[i : i + k]))
            if medicine is not None:
                found, width = medicine, k
                break
        if found is None:
            found = _fuzzy_medicine(words[i][0], index)
        if found is not None:
            start = words[i][1]
            mentions.append(_Mention(found, start, _is_negated(text, start)))
        i += width
    return mentions


def find_medicines(text: str, medicines: Sequence[Medicine] | None = None) -> list[Medicine]:
    """The medicines the patient says they take, in the order named, each once.

    Names are matched as whole words, case-insensitively, with one typo allowed in names of six
    letters or more. A medicine named only in the negative ("no steroids", "I stopped Imuran")
    is left out, so that "I don't take steroids" is not read as taking a steroid.
    """
    table = load_medicines() if medicines is None else medicines
    found: dict[str, Medicine] = {}
    for mention in _medicine_matches(normalise(text), table):
        if not mention.negated:
            found.setdefault(mention.medicine.id, mention.medicine)
    return list(found.values())
