"""Prints a held-out set's intent accuracy from Rasa's intent report, and the FAQ topic accuracy
from its response selection report beside it; fails when either is below a threshold.

    python scripts/nlu_accuracy.py results/nlu/intent_report.json 0.95 [label]

FAQs are one retrieval intent: the intent report scores ``faq`` as one intent, and the response
selection report (``response_selection_report.json``, written by ``rasa test nlu`` next to the
intent report when the pipeline has a ResponseSelector) scores which ``faq/<topic>`` was chosen,
over the held-out FAQ lines. Both must reach the threshold.
"""

import json
import sys
from pathlib import Path


def weak_labels(report: dict) -> list[tuple[str, float]]:
    return sorted(
        (name, v["f1-score"])
        for name, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and name not in ("macro avg", "weighted avg")
        and v["f1-score"] < 0.95
    )


def score(report: dict, what: str, label: str, threshold: float) -> bool:
    accuracy = report["accuracy"]
    print(f"held-out {what} accuracy{label}: {accuracy:.3f} on "
          f"{report['weighted avg']['support']} messages")
    for name, f1 in weak_labels(report):
        print(f"  below 0.95 F1: {name} {f1:.2f}")
    if accuracy < threshold:
        print(f"FAILED: {what} accuracy below {threshold}")
        return False
    return True


intent_path = Path(sys.argv[1])
threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.95
label = f" ({sys.argv[3]})" if len(sys.argv) > 3 else ""
passed = score(json.loads(intent_path.read_text(encoding="utf-8")), "intent", label, threshold)
selection_path = intent_path.with_name("response_selection_report.json")
if selection_path.exists():
    selection = json.loads(selection_path.read_text(encoding="utf-8"))
    passed = score(selection, "FAQ topic", label, threshold) and passed
else:
    print(f"FAILED: no {selection_path.name} beside {intent_path.name} (no ResponseSelector?)")
    passed = False
sys.exit(0 if passed else 1)
