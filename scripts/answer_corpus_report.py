"""Prints the answer corpus report (tests/corpus/answers_<language>_*.yml); writes
results/answer_corpus.txt.

Usage: .venv/bin/python scripts/answer_corpus_report.py [--language zh] [question_id ...]
With question ids, only the cases of those questions are run; with --language, only the answers
in that language. Exits 1 on a false knockout or when a language is below the target accuracy, as
the test does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_answer_corpus import (  # noqa: E402
    TARGET_ACCURACY,
    load_corpus,
    run_corpus,
    write_report,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", help="only the answers in this language (en, zh)")
    parser.add_argument("questions", nargs="*", help="only the answers to these questions")
    args = parser.parse_args(argv)
    cases = load_corpus()
    if args.language:
        cases = [c for c in cases if c.language == args.language]
    if args.questions:
        cases = [c for c in cases if c.question in set(args.questions)]
    run = run_corpus(cases=cases)
    print(write_report(run), end="")
    below = [lang for lang in run.languages() if run.of_language(lang).accuracy < TARGET_ACCURACY]
    return 1 if run.false_knockouts or below else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
