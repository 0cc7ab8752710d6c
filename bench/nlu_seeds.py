"""How much the held-out intent accuracy moves with DIET's random seed.

The project trains with a fixed seed (config.yml), so `make test-nlu` scores the same model on
every run; this shows whether that seed was lucky. For each seed it trains the whole model as
`make model` does (the NLU's vocabulary also takes in the bot's own responses, so an NLU-only
model would differ), with that seed for DIET, and scores tests/nlu/heldout.yml.

    .venv/bin/python -m bench.nlu_seeds 1 2 3 4 5        (about 6 minutes a seed on 2 cores)
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RASA = str(Path(sys.executable).with_name("rasa"))


def config_with_seed(seed: int) -> dict:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["random_seed"] = seed
    return config


def heldout_accuracy(seed: int, workdir: Path) -> tuple[float, list[tuple[str, str, str]]]:
    config = workdir / f"config-{seed}.yml"
    config.write_text(yaml.safe_dump(config_with_seed(seed), sort_keys=False), encoding="utf-8")
    # Rasa's training cache would hand back a model trained earlier with the same seed.
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(workdir / "cache")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True,
             "cwd": ROOT, "env": env}
    subprocess.run([RASA, "train", "--config", str(config), "--domain", "domain.yml",
                    "--data", "data", "--out", str(workdir), "--fixed-model-name", f"nlu-{seed}"],
                   **quiet)
    results = workdir / f"results-{seed}"
    subprocess.run([RASA, "test", "nlu", "--model", str(workdir / f"nlu-{seed}.tar.gz"),
                    "--nlu", "tests/nlu/heldout.yml", "--out", str(results)], **quiet)
    report = json.loads((results / "intent_report.json").read_text(encoding="utf-8"))
    errors_file = results / "intent_errors.json"  # Rasa writes it only when something missed
    errors = json.loads(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
    misses = [(e["intent"], e["intent_prediction"]["name"], e["text"]) for e in errors]
    return report["accuracy"], misses


def main(seeds: list[int]) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    scores = []
    with tempfile.TemporaryDirectory(prefix="nlu-seeds-") as tmp:
        for seed in seeds:
            accuracy, misses = heldout_accuracy(seed, Path(tmp))
            scores.append(accuracy)
            line = f"seed {seed}: held-out accuracy {accuracy:.3f}, {len(misses)} missed"
            print(line, flush=True)
            for intent, predicted, text in misses:
                print(f"    {intent} -> {predicted}: {text}")
    print(f"min {min(scores):.3f}  median {statistics.median(scores):.3f}  "
          f"max {max(scores):.3f}  over {len(scores)} seeds")


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [1, 2, 3])
