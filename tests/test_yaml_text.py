"""Text in the locale and trial files is text: an unquoted Yes, No, On, Off or null is not.

PyYAML reads YAML 1.1, where `option_disagree: No` is the boolean False; `str(False)` then put a
"False" button in front of patients. These tests read every locale file and every trial file
with PyYAML, as the bot does, and fail on any value that is not a string where text is expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
LOCALE_FILES = sorted((PROJECT / "bot" / "locales").glob("*.yml"))
TRIAL_FILES = sorted((PROJECT / "trials").glob("*.yml"))

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
# Keys of a trial file whose values are words shown to patients or matched against their replies
# (a string, a list of strings, or a mapping of language to either).
TRIAL_TEXT_KEYS = {
    "title", "short_title", "condition", "summary", "overview", "description", "sponsor", "name",
    "city", "country", "contact", "crisis_help", "question", "answer", "text", "why", "help",
    "plain", "reason", "label", "synonyms", "keywords", "words", "understood", "id", "topic",
    "eq", "ne", "in", "unit", "type", "kind", "status", "sex", "phase", "code",
}


def scalars(node: yaml.Node, path: str = "") -> Iterator[tuple[str, yaml.ScalarNode]]:
    """Every scalar under ``node`` (mapping keys included), with a readable path."""
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from scalars(item, f"{path}[{i}]")
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield f"{path}.{key.value} (the key)", key
            yield from scalars(value, f"{path}.{key.value}")


def text_problems(source: str, text_keys: set[str] | None) -> list[str]:
    """Where the YAML ``source`` has a value that is not a string where text is expected.

    ``text_keys`` None: every value is text (a locale file). Otherwise, under those keys every
    scalar is text; elsewhere a boolean must be spelled true/false (yes/no/on/off are always a
    missing pair of quotes) and nothing is null.
    """
    problems = []
    for path, node in scalars(yaml.compose(source)):
        where = f"line {node.start_mark.line + 1}: {path} = {node.value!r}"
        key = path.rsplit(".", 1)[-1].split("[")[0].removesuffix(" (the key)")
        is_key = path.endswith(" (the key)")
        if node.tag == STR:
            continue
        if is_key or text_keys is None or key in text_keys:
            problems.append(f"{where} is read as {node.tag.rsplit(':', 1)[-1]}, not text")
        elif node.tag == NULL or (node.tag == BOOL and node.value.lower() not in ("true", "false")):
            problems.append(f"{where} is read as {node.tag.rsplit(':', 1)[-1]}: quote it")
    return problems


def test_there_are_locale_and_trial_files_to_check():
    assert LOCALE_FILES and TRIAL_FILES


@pytest.mark.parametrize("path", LOCALE_FILES, ids=lambda p: p.name)
def test_every_message_in_a_locale_file_is_text(path: Path):
    assert text_problems(path.read_text(encoding="utf-8"), None) == []
    # And the loaded catalogue, as bot/messages.py reads it, holds only strings.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in data.items())


@pytest.mark.parametrize("path", TRIAL_FILES, ids=lambda p: p.name)
def test_every_text_in_a_trial_file_is_text(path: Path):
    assert text_problems(path.read_text(encoding="utf-8"), TRIAL_TEXT_KEYS) == []


@pytest.mark.parametrize(("source", "found"), [
    ("option_disagree: No\n", "option_disagree = 'No' is read as bool"),
    ("option_yes: yes\n", "option_yes = 'yes' is read as bool"),
    ("help: ~\n", "help = '~' is read as null"),
    ("ask: \n", "ask = '' is read as null"),
    ("no: Nein\n", ".no (the key) = 'no' is read as bool"),
])
def test_an_unquoted_yes_no_or_null_in_a_locale_is_found(source: str, found: str):
    problems = text_problems(source, None)
    assert len(problems) == 1 and found in problems[0]


@pytest.mark.parametrize(("source", "found"), [
    ("not_met_if: {answer: guardian, eq: no}\n", "eq = 'no' is read as bool"),
    ("choices:\n  - id: off\n    label: \"Off\"\n", "id = 'off' is read as bool"),
    ("keywords: [lupus, on]\n", "keywords[1] = 'on' is read as bool"),
    ("readback: {yes: Right}\n", "(the key) = 'yes' is read as bool"),
    ("site_confirms: yes\n", "site_confirms = 'yes' is read as bool: quote it"),
    ("screen_out_share: null\n", "screen_out_share = 'null' is read as null"),
])
def test_an_unquoted_yes_no_or_null_in_a_trial_is_found(source: str, found: str):
    problems = text_problems(source, TRIAL_TEXT_KEYS)
    assert len(problems) == 1 and found in problems[0], problems


def test_true_false_flags_and_numbers_in_a_trial_are_fine():
    source = "site_confirms: true\nmin: 14\nscreen_out_share: 0.3\nallow_unsure: false\n"
    assert text_problems(source, TRIAL_TEXT_KEYS) == []
