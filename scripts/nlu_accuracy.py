"""Prints a held-out set's intent accuracy from Rasa's intent report; fails below a threshold.

    python scripts/nlu_accuracy.py results/nlu/intent_report.json 0.95 [label]
"""

import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    report = json.load(f)
threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.95
label = f" ({sys.argv[3]})" if len(sys.argv) > 3 else ""
accuracy = report["accuracy"]
weak = sorted(
    (name, v["f1-score"])
    for name, v in report.items()
    if isinstance(v, dict) and "f1-score" in v and name not in ("macro avg", "weighted avg")
    and v["f1-score"] < 0.95
)
print(f"held-out intent accuracy{label}: {accuracy:.3f} on {report['weighted avg']['support']} "
      "messages")
for name, f1 in weak:
    print(f"  below 0.95 F1: {name} {f1:.2f}")
if accuracy < threshold:
    print(f"FAILED: accuracy below {threshold}")
    sys.exit(1)
