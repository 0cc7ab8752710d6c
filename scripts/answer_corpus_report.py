"""Prints the answer corpus report (tests/corpus/answers_*.yml); writes results/answer_corpus.txt.

Usage: .venv/bin/python scripts/answer_corpus_report.py [question_id ...]
With question ids, only the cases of those questions are run. Exits 1 on a false knockout or
below the target accuracy, as the test does.
"""

from __future__ import annotations

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
    cases = load_corpus()
    if argv:
        cases = [c for c in cases if c.question in set(argv)]
    run = run_corpus(cases=cases)
    print(write_report(run), end="")
    return 1 if run.false_knockouts or run.accuracy < TARGET_ACCURACY else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
