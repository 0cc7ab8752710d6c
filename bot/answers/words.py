"""Each language's words for the answer parsers, from ``bot/answers/words/<language>.yml``.

The parsers' grammar (what a yes, a dose or a length of time looks like) is written once, over
the parsers' own words ("no", "not sure", "mg", "a day", "months", "and a half"). A language other
than that one is a words file: it names the characters of its script, its numerals, and per kind
of answer the forms patients type, each with the parsers' words it means ("没有" is "no", "两个半月"
is "2 and a half months", "每天两次" is "2 times a day"). A reply that contains characters of the
language's script is rewritten into those words before it is parsed, so a Chinese reply with an
English drug name or "mg" in it is read as well. The rewritten text is only ever parsed: what the
bot says back comes from the locale and the protocol.

Chinese is written without spaces, so forms are found anywhere, the longest first at each place:
"没有" is read before "有" can be, "不是" before "是", "但是" before "是". A form may hold ``{n}``
(a number, in digits or in the language's numerals) or ``{year}`` (four digits, 1900 to 2099).

Pure functions of the text; nothing is logged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.answers.text import normalise

WORDS_DIR = Path(__file__).resolve().parent / "words"
# The kinds of answer a words file may give forms for.
KINDS = frozenset({"yes_no", "none", "age", "number", "duration", "dose"})
_NUMBER_SLOT = "{n}"
_YEAR_SLOT = "{year}"
_LONGEST_INPUT = 2000  # the parsers read at most 1000 characters; this bounds the rewrite


@dataclass(frozen=True)
class _Numerals:
    digits: Mapping[str, int]
    powers: Mapping[str, int]
    point: str
    run: str  # a regex character class of the numerals' characters


@dataclass(frozen=True)
class Lexicon:
    """One language's words: its script, numerals, and per kind the forms and what they mean."""

    language: str
    script: re.Pattern[str]
    punctuation: Mapping[str, str]
    numerals: _Numerals | None
    forms: Mapping[str, tuple[tuple[str, str], ...]]  # kind -> (form, meaning), longest first
    pattern: Mapping[str, re.Pattern[str]]  # kind -> one regex of every form and numeral run
    alone: Mapping[str, Mapping[str, str]]  # kind -> a whole reply -> what it means
    # kind -> (forms that answer only at the start of a clause, words that may come before them)
    clause_start: Mapping[str, tuple[frozenset[str], tuple[str, ...]]]
    lists: Mapping[str, tuple[str, ...]]  # named word lists other parsers read
    characters: Mapping[int, str]  # one character read as another (traditional as simplified)

    def applies_to(self, text: str) -> bool:
        return self.script.search(text) is not None


class WordsError(ValueError):
    """A words file that is malformed, with the place."""


def _load_numerals(raw: Any, where: str) -> _Numerals | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WordsError(f"{where}: numerals must be a mapping")
    digits = raw.get("digits") or {}
    powers = raw.get("powers") or {}
    if not isinstance(digits, dict) or not isinstance(powers, dict) or not digits:
        raise WordsError(f"{where}: numerals need digits (and may have powers)")
    for table in (digits, powers):
        for k, v in table.items():
            if not isinstance(k, str) or len(k) != 1 or isinstance(v, bool) or not isinstance(
                v, int
            ):
                raise WordsError(f"{where}: numeral {k!r} must be one character with a whole value")
    point = str(raw.get("point") or "")
    chars = "".join(sorted(set(digits) | set(powers)))
    return _Numerals(dict(digits), dict(powers), point, f"[{re.escape(chars)}]")


def _load_forms(raw: Any, where: str) -> dict[str, tuple[tuple[str, str], ...]]:
    if not isinstance(raw, dict):
        raise WordsError(f"{where}: forms must map a kind of answer to its words")
    common = raw.get("all") or {}
    forms: dict[str, tuple[tuple[str, str], ...]] = {}
    for kind in KINDS:
        table: dict[str, str] = {}
        for source in (common, raw.get(kind) or {}):
            if not isinstance(source, dict):
                raise WordsError(f"{where}.{kind}: a mapping of meaning to forms")
            for meaning, words in source.items():
                meaning = "" if meaning is None else str(meaning)
                if not isinstance(words, list) or not all(
                    isinstance(w, str) and w for w in words
                ):
                    raise WordsError(f"{where}.{kind}: {meaning!r} needs a list of forms")
                for word in words:
                    table[word] = meaning  # the kind's own meaning wins over "all"
        forms[kind] = tuple(sorted(table.items(), key=lambda fm: _literal_length(fm[0]),
                                   reverse=True))
    unknown = set(raw) - KINDS - {"all"}
    if unknown:
        raise WordsError(f"{where}: unknown kinds {sorted(unknown)}")
    return forms


def _literal_length(form: str) -> int:
    """How much a form says: a number slot counts as one character, a year as four."""
    return len(form.replace(_NUMBER_SLOT, "#").replace(_YEAR_SLOT, "####"))


def _form_regex(form: str, numerals: _Numerals | None, index: int) -> str:
    number = r"\d+(?:\.\d+)?"
    year = r"(?:19|20)\d\d(?!\d)"
    if numerals is not None:
        # A year said digit by digit: "二零二三".
        digits = "".join(sorted(numerals.digits))
        year = rf"(?:{year}|[{re.escape(digits)}]{{4}}(?![{re.escape(digits)}]))"
        number = rf"(?:{number}|{numerals.run}+(?:{re.escape(numerals.point)}{numerals.run}+)?)"
    parts = re.split(r"(\{n\}|\{year\})", form)
    out = []
    for part in parts:
        if part == _NUMBER_SLOT:
            out.append(rf"(?P<n{index}_{len(out)}>{number})")
        elif part == _YEAR_SLOT:
            out.append(rf"(?P<y{index}_{len(out)}>{year})")
        elif part:
            out.append(re.escape(part))
    return "".join(out)


def _compile(
    forms: tuple[tuple[str, str], ...], numerals: _Numerals | None
) -> re.Pattern[str]:
    alternatives = [
        f"(?P<f{i}>{_form_regex(form, numerals, i)})" for i, (form, _) in enumerate(forms)
    ]
    if numerals is not None:
        point = re.escape(numerals.point) if numerals.point else None
        run = numerals.run
        alternatives.append(
            rf"(?P<num>{run}+(?:{point}{run}+)?)" if point else rf"(?P<num>{run}+)"
        )
    if not alternatives:
        return re.compile(r"(?!)")
    # Every alternative starts with one of these characters. Said first, the regex tries its
    # hundreds of forms only where one could start, not at every character of a long reply:
    # 1,000 characters of mixed English and Chinese, 50 ms a rewrite before, 3 ms with it.
    return re.compile(f"(?=[{_first_characters(forms, numerals)}])(?:{'|'.join(alternatives)})")


def _first_characters(forms: tuple[tuple[str, str], ...], numerals: _Numerals | None) -> str:
    """A character class body of the characters any form (or a bare numeral) can start with."""
    numeral_chars = set(numerals.digits) | set(numerals.powers) if numerals is not None else set()
    chars: set[str] = set(numeral_chars)
    digits = numerals is not None
    for form, _ in forms:
        if form.startswith((_NUMBER_SLOT, _YEAR_SLOT)):
            digits = True
            chars |= numeral_chars
        elif form:
            chars.add(form[0])
    return ("\\d" if digits else "") + "".join(re.escape(c) for c in sorted(chars))


def load_lexicon(path: Path) -> Lexicon:
    """One words file; raises WordsError naming what is wrong."""
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise WordsError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise WordsError(f"{where}: expected a mapping")
    script = data.get("script")
    rewrites = any(key in data for key in ("forms", "numerals", "alone", "clause_start"))
    if script is None and not rewrites:
        script_re = re.compile(r"(?!)")  # the parsers' own language: read as it is, never rewritten
    elif not isinstance(script, str) or not script:
        raise WordsError(f"{where}: 'script' must give the characters of the language")
    else:
        try:
            script_re = re.compile(f"[{script}]")
        except re.error as exc:
            raise WordsError(f"{where}: 'script' is not a character range: {exc}") from exc
    punctuation = data.get("punctuation") or {}
    if not isinstance(punctuation, dict):
        raise WordsError(f"{where}: punctuation maps a mark to the one the parsers read")
    numerals = _load_numerals(data.get("numerals"), f"{where}: numerals")
    forms = _load_forms(data.get("forms") or {}, f"{where}: forms")
    alone_raw = data.get("alone") or {}
    if not isinstance(alone_raw, dict) or set(alone_raw) - KINDS:
        raise WordsError(f"{where}: alone maps a kind of answer to meanings and their forms")
    alone_forms = {
        kind: {form: str(meaning) for meaning, fs in table.items() for form in fs}
        for kind, table in alone_raw.items()
    }
    starts_raw = data.get("clause_start") or {}
    if not isinstance(starts_raw, dict) or set(starts_raw) - KINDS:
        raise WordsError(f"{where}: clause_start maps a kind of answer to forms and after")
    clause_start = {
        kind: (
            frozenset(str(f) for f in entry.get("forms") or ()),
            tuple(sorted((str(w) for w in entry.get("after") or ()), key=len, reverse=True)),
        )
        for kind, entry in starts_raw.items()
    }
    lists_raw = dict(data.get("lists") or {})
    medicines = data.get("medicines") or {}
    if not isinstance(medicines, dict):
        raise WordsError(f"{where}: medicines maps a name to a list of words or patterns")
    lists_raw.update({f"medicines_{k}": v for k, v in medicines.items()})
    for name, patterns in lists_raw.items():
        if str(name).endswith("_patterns") and isinstance(patterns, list):
            for pattern in patterns:
                try:
                    re.compile(str(pattern))
                except re.error as exc:
                    raise WordsError(f"{where}: {name}: {pattern!r} is no pattern: {exc}") from exc
    traditional = data.get("traditional") or {}
    source = "".join(str(traditional.get("from") or "").split())
    target = "".join(str(traditional.get("to") or "").split())
    if len(source) != len(target):
        raise WordsError(f"{where}: traditional 'from' and 'to' must have as many characters")
    if not isinstance(lists_raw, dict) or not all(
        isinstance(v, list) and all(isinstance(w, str) and w for w in v)
        for v in lists_raw.values()
    ):
        raise WordsError(f"{where}: lists maps a name to a list of words")
    return Lexicon(
        path.stem,
        script_re,
        {str(k): str(v) for k, v in punctuation.items()},
        numerals,
        forms,
        {kind: _compile(forms[kind], numerals) for kind in KINDS},
        alone_forms,
        clause_start,
        {str(k): tuple(v) for k, v in lists_raw.items()},
        str.maketrans(source, target),
    )


@functools.lru_cache(maxsize=1)
def lexicons() -> tuple[Lexicon, ...]:
    """Every words file's lexicon, by file name."""
    return tuple(load_lexicon(p) for p in sorted(WORDS_DIR.glob("*.yml")))


def lexicon(language: str) -> Lexicon | None:
    return next((lx for lx in lexicons() if lx.language == language), None)


def word_list(name: str) -> tuple[str, ...]:
    """The words every language gives under ``name`` (``lists`` in the words files): for
    parsers that look for words rather than rewrite them, such as ``describing``."""
    return tuple(w for lx in lexicons() for w in lx.lists.get(name, ()))


# ---- numerals ------------------------------------------------------------------------------------


def numeral_value(run: str, numerals: _Numerals) -> str:
    """Digits for a run of numerals: "三十四" is "34", "一百零五" "105", "两千" "2000",
    "二零二三" "2023" (a year said digit by digit), "七点五" "7.5"; "三四" (three or four) is
    "3 or 4" and "三四十" "30 or 40", so that the parsers see two numbers and ask again."""
    if numerals.point and numerals.point in run:
        whole, _, decimals = run.partition(numerals.point)
        if decimals and all(c in numerals.digits for c in decimals):
            return numeral_value(whole, numerals) + "." + "".join(
                str(numerals.digits[c]) for c in decimals
            )
        return numeral_value(whole, numerals) if whole else run
    if not any(c in numerals.powers for c in run):
        values = [str(numerals.digits[c]) for c in run]
        if len(values) == 2 and abs(int(values[0]) - int(values[1])) == 1:
            return f"{values[0]} or {values[1]}"  # "三四个月": three or four months
        return "".join(values)
    for i in range(len(run) - 1):
        a, b = run[i], run[i + 1]
        if numerals.digits.get(a) and numerals.digits.get(b):
            # "三四十" (thirty or forty), "十七八" (seventeen or eighteen): a range, not one number.
            first = numeral_value(run[:i + 1] + run[i + 2 :], numerals)
            second = numeral_value(run[:i] + run[i + 1 :], numerals)
            return f"{first} or {second}"
    total = 0
    section = 0
    current: int | None = None
    last_power = 0
    for c in run:
        if c in numerals.digits:
            current = numerals.digits[c]
            continue
        power = numerals.powers[c]
        if power >= 10000:
            if current is None and not section:
                current = 1  # "万" alone, "万把块": ten thousand
            section = (section + (current or 0)) * power
            total += section
            section = 0
        else:
            section += (1 if current is None else current) * power
        last_power = power
        current = None
    if current is not None:
        # "一千二" is 1200 as people say it; "一百零五" is 105 (the zero already read).
        if last_power >= 100 and run[-2:-1] in numerals.powers and current:
            current *= last_power // 10
        section += current
    return str(total + section)


# ---- rewriting -----------------------------------------------------------------------------------


def characters(text: str) -> str:
    """``text`` with each language's variant characters as the ones its words are written in:
    "沒有" (traditional) is "没有"."""
    for lx in lexicons():
        if lx.characters and lx.applies_to(text):
            text = text.translate(lx.characters)
    return text


def word_pattern(name: str) -> re.Pattern[str]:
    """One regex of every language's ``name`` patterns (``medicines.negation_patterns``...);
    one that never matches when no language gives any."""
    patterns = [p for p in word_list(name) if p]
    return re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)")


def _rewrite(text: str, lx: Lexicon, kind: str) -> str:
    text = text.translate(lx.characters)
    for mark, meant in lx.punctuation.items():
        text = text.replace(mark, meant)
    forms = lx.forms[kind]
    numerals = lx.numerals

    def number(raw: str) -> str:
        if numerals is None or raw[0].isdigit():
            return raw
        return numeral_value(raw, numerals)

    starts, after = lx.clause_start.get(kind, (frozenset(), ()))

    def replace(m: re.Match[str]) -> str:
        name = m.lastgroup or ""
        if name == "num":
            return f" {number(m.group('num'))} "
        index = int(name[1:])
        if forms[index][0] in starts and not _starts_clause(m.string[: m.start()], after):
            return " "  # "甲状腺有结节": a "have" inside a sentence, not a yes
        meaning = forms[index][1]
        slots = [
            (k, v)
            for k, v in m.groupdict().items()
            if v is not None and k[0] in "ny" and k[1:].split("_")[0] == str(index)
        ]
        for k, v in sorted(slots, key=lambda kv: m.start(kv[0])):
            slot = _NUMBER_SLOT if k[0] == "n" else _YEAR_SLOT
            meaning = meaning.replace(slot, number(v), 1)
        return f" {meaning} " if meaning else " "

    text = lx.pattern[kind].sub(replace, text)
    # What is left of the script stays, apart from digits and Latin words: "泼尼松 10 mg".
    text = re.sub(rf"({lx.script.pattern}+)", r" \1 ", text)
    return " ".join(text.split())


def alone(text: str, kind: str) -> str | None:
    """What a reply means when it is one word that means something else inside a longer reply
    ("在" alone is "yes, with me"; "现在" is "now"), in the parsers' words; else None."""
    text = text[:_LONGEST_INPUT]
    for lx in lexicons():
        forms = lx.alone.get(kind)
        if forms and lx.applies_to(text):
            t = normalise(text)
            for mark, meant in lx.punctuation.items():
                t = t.replace(mark, meant)
            t = t.strip(" ,.!~")
            if t in forms:
                return forms[t]
    return None


_CLAUSE_MARK = re.compile(r"[,.;:!?\s，。；：！？、]")


def _starts_clause(before: str, after: tuple[str, ...]) -> bool:
    """Whether only words of ``after`` ("我", "嗯", "以前") stand between the last clause mark and
    here. ``before`` is the text up to here, rewritten as far as it goes."""
    rest = _CLAUSE_MARK.split(before)[-1]
    while rest:
        word = next((w for w in after if rest.endswith(w)), None)
        if word is None:
            return False
        rest = rest[: -len(word)]
    return True


def canonical(text: str, kind: str) -> str:
    """``text`` in the parsers' own words for ``kind`` of answer, when it is (partly) written in
    a language with a words file; unchanged otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of answer {kind!r}")
    text = text[:_LONGEST_INPUT]
    if not any(lx.applies_to(text) for lx in lexicons()):
        return text
    text = normalise(text)  # full-width digits and commas as ASCII: "３４岁", "，"
    for lx in lexicons():
        if lx.applies_to(text):
            text = _rewrite(text, lx, kind)
    return text
