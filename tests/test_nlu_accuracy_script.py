"""scripts/nlu_accuracy.py, the gate of `make test-nlu`: an FAQ counts only with its topic right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "nlu_accuracy.py"


def report(accuracy: float, support: int, **labels: float) -> dict:
    return {
        **{name: {"f1-score": f1, "support": 1} for name, f1 in labels.items()},
        "accuracy": accuracy,
        "weighted avg": {"f1-score": accuracy, "support": support},
    }


def write(folder: Path, name: str, data: object) -> None:
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


def gate(folder: Path, threshold: str = "0.95") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(folder / "intent_report.json"), threshold, "zh"],
        capture_output=True, text=True, check=False,
    )


def test_intents_alone_pass_or_fail_on_the_threshold(tmp_path):
    write(tmp_path, "intent_report.json", report(0.96, 100, greet=1.0, inform=0.90))
    passed = gate(tmp_path)
    assert passed.returncode == 0, passed.stdout
    assert "held-out intent accuracy (zh): 0.960 on 100 messages" in passed.stdout
    assert "below 0.95 F1: inform 0.90" in passed.stdout
    failed = gate(tmp_path, "0.97")
    assert failed.returncode == 1
    assert "FAILED: accuracy below 0.97" in failed.stdout


def test_a_wrong_faq_topic_counts_as_a_miss_once(tmp_path):
    # 100 messages, 20 of them FAQs: 3 wrong intents, 3 wrong topics, one message wrong in both.
    write(tmp_path, "intent_report.json", report(0.97, 100, faq=0.97))
    write(tmp_path, "response_selection_report.json", report(0.85, 20, **{"faq/safety": 0.8}))
    write(tmp_path, "intent_errors.json", [{"text": t} for t in ("a", "b", "c")])
    write(tmp_path, "response_selection_errors.json", [{"text": t} for t in ("c", "d", "e")])
    result = gate(tmp_path)
    assert "held-out FAQ topic accuracy (zh): 0.850 on 20 FAQ messages" in result.stdout
    assert "below 0.95 F1: faq/safety 0.80" in result.stdout
    assert "intent and FAQ topic both right: 0.950 (5 of 100 missed)" in result.stdout
    assert result.returncode == 0
    write(tmp_path, "response_selection_errors.json", [{"text": t} for t in "defg"])
    result = gate(tmp_path)
    assert "0.930 (7 of 100 missed)" in result.stdout
    assert result.returncode == 1, "the topics' misses must fail the gate the intents passed"
