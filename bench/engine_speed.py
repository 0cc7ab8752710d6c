"""How long the eligibility engine takes to judge a screening, and to parse typical answers.

    .venv/bin/python -m bench.engine_speed
"""

from __future__ import annotations

import platform
import statistics
import time

from bot.engine import Answer, evaluate
from bot.protocol import get_protocol
from bot.questions import interpret


def _time(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def main() -> None:
    protocol = get_protocol("NCT06675422")
    # Answer the engine's own questions until it decides, as a patient would.
    patient = {"diagnosis": "yes", "lupus_meds": ["prednisone", "mycophenolate_mofetil"],
               "steroid_dose": 10.0, "treatment_duration": 120.0, "age": 34.0, "sex": "female"}
    answers: dict[str, Answer] = {}
    while (q := evaluate(protocol, answers).next_question) is not None:
        answers[q.id] = Answer(q.id, patient.get(q.id, "no" if q.type.value == "yes_no" else None))
        if q.id in ("dose_stable", "lupus_active", "symptoms", "antibodies"):
            answers[q.id] = Answer(q.id, "yes")
    full = _time(lambda: evaluate(protocol, answers), 2000)
    empty = _time(lambda: evaluate(protocol, {}), 2000)
    meds_q = protocol.question("lupus_meds")
    dose_q = protocol.question("steroid_dose")
    parse_meds = _time(lambda: interpret(meds_q, "prednisone 10mg and cellcept, plaquenil"), 2000)
    parse_dose = _time(lambda: interpret(dose_q, "five mg twice a day"), 2000)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"questions answered in a full screening: {len(answers)}")
    for name, xs in [("evaluate, full screening", full), ("evaluate, no answers", empty),
                     ("interpret medicines", parse_meds), ("interpret dose", parse_dose)]:
        xs.sort()
        p50, p95 = statistics.median(xs), xs[int(len(xs) * 0.95)]
        print(f"{name:<28} p50 {p50:8.1f} us   p95 {p95:8.1f} us")


if __name__ == "__main__":
    main()
