"""The Rasa server parses a message of its own once its model is loaded, before it takes any.

The first parse of a process pays for what is built on first use: Jieba's prefix dictionary
(about 0.7 s, and its "Building prefix dict..." lines), and a TensorFlow component's graph when
the pipeline has one. Without this, the patient whose message came first waited for it; with
it, the server starts answering only after the warm-up, and its first patient waits no longer
than the next. The texts are the bot's own (one English, one Chinese), never a patient's.

:func:`install` wraps ``rasa.core.run.load_agent_on_start`` (what ``rasa run`` schedules before
the server listens) so the parse runs right after the model loads; ``channels.action_calls``
installs it with its guard, the way ``bot.deploy.services`` starts Rasa.

This module also imports skops, the library Rasa loads the logistic regressions' files with,
before Rasa and TensorFlow are imported (``channels.action_calls`` imports this module first).
On import skops builds its table of trusted types, finding the module of every NumPy and SciPy
ufunc by looking it up in every loaded module (``skops.io._utils.whichmodule``). Rasa imports it
only when it loads the first classifier, after TensorFlow, with some 6,000 modules loaded: that
import took 8 s of the server's start (py-spy: 45% of the start). Here, with about 700 modules
loaded, it takes 2 to 3 s, most of them importing scikit-learn and SciPy, which Rasa imports
anyway (docs/benchmarks.md, "Training and model load").

And it keeps JAX from being imported: TensorFlow 2.12 imports it at start, when installed (its
wheel requires it), only for TensorFlow Lite's converter from JAX (``tensorflow.lite.python.util``
tries ``from jax import xla_computation`` and takes ``None`` when that fails). Nothing here
converts models to TensorFlow Lite; the import was 2.5 s of the server's start (py-spy: 15%).
Marking it absent in ``sys.modules`` makes that import fail at once, as when JAX is not installed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import skops.io  # noqa: F401  (see above: imported before Rasa and TensorFlow on purpose)

sys.modules.setdefault("jax", None)  # type: ignore[arg-type]  (see above: not imported)

log = logging.getLogger(__name__)
# Its own level: `rasa run` raises the root logger's after the model loads, and this one line a
# start is what says the warm-up ran (tests/e2e/test_rasa_warm_up.py reads it).
log.setLevel(logging.INFO)

WARM_UP_TEXTS = ("hello", "你好，我想了解这个研究")
_installed = False


async def warm_up(agent: Any) -> float:
    """Parse the warm-up texts with ``agent``; the seconds it took."""
    start = time.perf_counter()
    for text in WARM_UP_TEXTS:
        await agent.parse_message(text)
    return time.perf_counter() - start


def install() -> None:
    """Make ``rasa run`` warm its model up when it loads it (once per process)."""
    global _installed
    if _installed:
        return
    import rasa.core.run as run

    load_agent_on_start = run.load_agent_on_start

    async def load_and_warm_up(*args: Any, **kwargs: Any) -> Any:
        agent = await load_agent_on_start(*args, **kwargs)
        if agent is not None and agent.is_ready():
            seconds = await warm_up(agent)
            log.info("model warmed up: first parse took %.0f ms", seconds * 1000)
        return agent

    run.load_agent_on_start = load_and_warm_up
    _installed = True
