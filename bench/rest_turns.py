"""Per-turn latency and throughput through the REST channel: now :mod:`bench.load`.

The first, thread-based version of this benchmark lived here; the asyncio one (whole screenings
of the e2e suite's simulated patients, in free text and buttons, this project beside stock Rasa)
is ``bench/load.py``, the one place for its logic. This command runs its ``alone`` and ``sweep``
modes on this project only, without timing its training and model load (``--times`` does); any
other flag goes to ``bench.load``:

    .venv/bin/python -m bench.rest_turns [--sweep 1,4] [--step-seconds 10]
"""

from __future__ import annotations

import sys

from bench.load import main

if __name__ == "__main__":
    main(["--modes", "alone,sweep", "--no-stock", "--no-times", *sys.argv[1:]])
