"""Per-message NLU and policy time of a trained model.

Loads the model in this process (as the Rasa server does) and parses every held-out message
once to warm up, then `--repeat` more times, timing each parse alone: tokenizer, featurizers,
the intent classifier, the FAQ topic selector and the fallback classifier, without HTTP,
policies or actions. Each NLU component's share of the parses' time is timed too (its `process`
calls; "graph" is the rest: Rasa's graph runner and the message's conversion).

Then the policies: every action prediction of the test stories (tests/stories), each on the
story's tracker as it stood before that action (the whole history so far, as in a real turn),
timed alone: the policy ensemble and the prediction's selection, without NLU, tracker store or
actions. A turn makes one prediction per action it runs plus one for listening.

    .venv/bin/python -m bench.nlu_latency [models/prescreen.tar.gz] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HELDOUT = {"en": ROOT / "tests/nlu/heldout.yml", "zh": ROOT / "tests/nlu/heldout_zh.yml"}


def heldout_messages(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        line[2:].strip()
        for item in data["nlu"]
        for line in item["examples"].strip().splitlines()
    ]


async def measure(model: str, repeat: int, stories: Path) -> None:
    from rasa.core.agent import Agent  # Rasa's import is slow: only when measuring
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parse

    start = time.perf_counter()
    agent = Agent.load(model)
    component_times = time_components(agent)
    print(f"model {model}: loaded in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    await agent.parse_message("你好")  # the first parse: Jieba loads its dictionary once
    print(f"first parse: {(time.perf_counter() - start) * 1000:.0f} ms")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    for language, path in HELDOUT.items():
        messages = heldout_messages(path)
        for text in messages:  # warm-up (first Jieba use loads its dictionary)
            await agent.parse_message(text)
        times = []
        component_times.clear()
        for _ in range(repeat):
            for text in messages:
                t0 = time.perf_counter()
                await agent.parse_message(text)
                times.append((time.perf_counter() - t0) * 1000)
        print(f"{language}: {len(messages)} messages x {repeat}: parse {percentiles(times)}")
        print(f"  {shares(component_times, times)}")
    times = policy_times(agent, repeat, stories)
    print(f"policies: {len(times) // repeat} predictions ({stories.name}) x {repeat}: "
          f"{percentiles(times)}")


def time_components(agent: object) -> dict[str, float]:
    """Time each NLU component's ``process`` from now on: milliseconds by component name."""
    from rasa.engine.graph import GraphNode

    spent: dict[str, float] = {}
    runner = agent.processor.graph_runner  # type: ignore[attr-defined]
    nodes: dict[str, GraphNode] = runner._instantiated_nodes  # Rasa's runner keeps them so
    for name, node in nodes.items():
        if node._fn_name != "process":
            continue
        label = name.removeprefix("run_").rsplit(".", 1)[-1]  # e.g. CountVectorsFeaturizer1
        fn = node._fn

        def timed(self: object, *args: object, _fn=fn, _label=label, **kwargs: object) -> object:
            t0 = time.perf_counter()
            try:
                return _fn(self, *args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + (time.perf_counter() - t0) * 1000

        node._fn = timed
    return spent


def shares(component_times: dict[str, float], times: list[float]) -> str:
    """Each component's mean milliseconds per parse and share of the parses' time."""
    total = sum(times)
    parts = sorted(component_times.items(), key=lambda kv: -kv[1])
    parts.append(("graph", total - sum(component_times.values())))
    return "; ".join(f"{name} {ms / len(times):.2f} ms ({100 * ms / total:.0f}%)"
                     for name, ms in parts)


def percentiles(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    return (f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, mean "
            f"{statistics.fmean(times):.1f} ms")


def policy_times(agent: object, repeat: int, stories_path: Path) -> list[float]:
    """Milliseconds per policy prediction over the test stories' action steps."""
    from rasa.core.test import _create_data_generator
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = agent.processor  # type: ignore[attr-defined]
    domain = agent.domain  # type: ignore[attr-defined]
    with contextlib.redirect_stderr(io.StringIO()):  # Rasa's progress bar and story warnings
        generator = _create_data_generator(str(stories_path), agent)
        stories = generator.generate_story_trackers()
    prefixes = []
    for story in stories:
        events = list(story.events)
        for i, event in enumerate(events):
            if isinstance(event, ActionExecuted) and i > 0:
                prefixes.append(events[:i])
    times = []
    for round_ in range(repeat + 1):  # the first round warms up
        for events in prefixes:
            tracker = DialogueStateTracker.from_events("bench", events, slots=domain.slots)
            t0 = time.perf_counter()
            processor._predict_next_with_tracker(tracker)
            if round_:
                times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(ROOT / "models/prescreen.tar.gz"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stories", type=Path, default=ROOT / "tests/stories",
                        help="the stories whose action steps time the policies")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    asyncio.run(measure(args.model, args.repeat, args.stories))


if __name__ == "__main__":
    main()
