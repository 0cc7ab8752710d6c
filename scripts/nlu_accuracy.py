"""Prints a held-out set's accuracy from Rasa's reports; fails below a threshold.

    python scripts/nlu_accuracy.py results/nlu/intent_report.json 0.95 [label]

FAQs are one retrieval intent (faq/<topic>): Rasa's intent report scores only the intent
(``faq``), and the topic is in its response-selection report, written beside it. A message is
understood when its intent is right and, for an FAQ, its topic too; that share is what must
reach the threshold, as when every topic was an intent of its own. The errors come from the
``intent_errors.json`` and ``response_selection_errors.json`` Rasa writes beside the reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def weak_labels(report: dict) -> list[tuple[str, float]]:
    return sorted(
        (name, v["f1-score"])
        for name, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and name not in ("macro avg", "weighted avg")
        and v["f1-score"] < 0.95
    )


def main(argv: list[str]) -> int:
    intent_path = Path(argv[1])
    threshold = float(argv[2]) if len(argv) > 2 else 0.95
    label = f" ({argv[3]})" if len(argv) > 3 else ""
    results = intent_path.parent
    report = load(intent_path)
    total = int(report["weighted avg"]["support"])
    print(f"held-out intent accuracy{label}: {report['accuracy']:.3f} on {total} messages")
    for name, f1 in weak_labels(report):
        print(f"  below 0.95 F1: {name} {f1:.2f}")
    accuracy = report["accuracy"]
    topics = load(results / "response_selection_report.json")
    if topics is not None:
        faq_total = int(topics["weighted avg"]["support"])
        print(f"held-out FAQ topic accuracy{label}: {topics['accuracy']:.3f} on {faq_total} "
              "FAQ messages")
        for name, f1 in weak_labels(topics):
            print(f"  below 0.95 F1: {name} {f1:.2f}")
        missed = {e["text"] for e in load(results / "intent_errors.json") or []}
        missed |= {e["text"] for e in load(results / "response_selection_errors.json") or []}
        accuracy = 1 - len(missed) / total
        print(f"held-out accuracy{label}, intent and FAQ topic both right: {accuracy:.3f} "
              f"({len(missed)} of {total} missed)")
    if accuracy < threshold:
        print(f"FAILED: accuracy below {threshold}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
