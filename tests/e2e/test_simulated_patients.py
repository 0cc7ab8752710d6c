"""Sixty simulated patients, half typing and half tapping, play whole screenings through the REST
channel of the real Rasa server and action server; each must end where a careful coordinator
would put them from the listing, and none may be turned away by a misreading.

The patients and the simulator are in ``patients.yml`` and ``patients.py``. The summary (patients,
outcome agreement, false knockouts, read-backs the patients corrected, and every patient the bot
judged differently, with the answer where it went wrong) is printed and written to
``results/simulated_patients.txt``.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from bot.messages import msg
from bot.protocol import get_protocol
from bot.settings import PROJECT_ROOT
from tests.e2e.patients import (
    TRIAL,
    Expected,
    Outcome,
    Patient,
    Played,
    agrees,
    at_least_as_careful,
    engine_on_truth,
    false_knockout,
    load_patients,
    misread_answers,
    outcome_in_store,
    play,
)

pytestmark = pytest.mark.e2e

ALL_PATIENTS = load_patients()
# SIM_PATIENTS=T26,P09 plays only those patients (to reproduce one); the summary says so.
_ONLY = {p.strip() for p in os.environ.get("SIM_PATIENTS", "").split(",") if p.strip()}
PATIENTS = [p for p in ALL_PATIENTS if not _ONLY or p.id in _ONLY]
PROTOCOL = get_protocol(TRIAL)
RESULTS_FILE = PROJECT_ROOT / "results" / "simulated_patients.txt"
TRANSCRIPTS_FILE = PROJECT_ROOT / "results" / "simulated_patients_transcripts.txt"
# Patients at a time. The one Rasa server is the bottleneck: 8 at a time was no faster than 4.
CONCURRENCY = int(os.environ.get("SIM_CONCURRENCY", "4"))


@dataclass
class Result:
    played: Played
    outcome: Outcome | None
    agrees: bool
    false_knockout: bool
    misread: list[str]
    on_truth: Expected

    @property
    def patient(self) -> Patient:
        return self.played.patient

    def explain(self) -> str:
        p = self.patient
        got = self.outcome.describe() if self.outcome else "no screening in the store"
        lines = [
            f"{p.id} ({p.style}, {p.about})",
            f"    coordinator: {p.expected.describe()}",
            f"    bot:         {got}",
        ]
        if self.played.error:
            lines.append(f"    conversation: {self.played.error}")
        lines += [f"    answer misread: {m}" for m in self.misread]
        lead = self.outcome.lead_outcome if self.outcome else None
        if lead and self.outcome and self.outcome.lead_is_minor != p.expected.minor:
            lines.append(f"    lead is_minor={self.outcome.lead_is_minor}, expected "
                         f"{p.expected.minor}")
        same = (self.on_truth.status == p.expected.status
                and self.on_truth.confirm == p.expected.confirm
                and (self.on_truth.criterion or None) == p.expected.criterion)
        verdict = "the rules agree: a misreading" if same else "the rules differ"
        lines.append(f"    engine on the true answers: {self.on_truth.describe()} ({verdict})")
        # The turns that gave the misread answers: where the screening went wrong.
        stored = self.outcome.answers if self.outcome else {}
        wrong = {m.split(":", 1)[0] for m in self.misread}
        for n, turn in enumerate(self.played.turns, start=1):
            rows = sorted(q for q in wrong if stored[q].raw_text == turn.sent)
            if rows:
                replies = " | ".join(turn.replies)[:300]
                lines.append(f"    turn {n}, asked {turn.question_id or turn.prompt}, stored as "
                             f"{', '.join(rows)}: sent {turn.sent!r} -> bot {replies!r}")
        return "\n".join(lines)


def _play(patient: Patient, stack) -> Played:
    try:
        return play(patient, stack.talk, PROTOCOL)
    except Exception:  # noqa: BLE001 - one patient's failure is reported, the others go on
        played = Played(patient)
        played.error = traceback.format_exc(limit=3)
        return played


def summary(results: list[Result], seconds: float) -> str:
    total = len(results)
    by_style = Counter(r.patient.style for r in results)
    agreed = Counter(r.patient.style for r in results if r.agrees)
    leads = [r for r in results if r.patient.expected.outcome == "lead"]
    with_confirm = sum(1 for r in leads if r.patient.expected.confirm)
    knockouts = total - len(leads)
    false_ko = [r for r in results if r.false_knockout]
    caught = [(r.patient.id, c) for r in results for c in r.played.caught]
    unreadable = [(r.patient.id, c) for r in results for c in r.played.unreadable]
    stumbles = [(r.patient.id, c) for r in results for c in r.played.stumbles]
    turns = sum(len(r.played.turns) for r in results)
    n_agree = sum(agreed.values())
    lines = [
        f"Simulated patients end to end through the REST channel ({TRIAL}), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f" (only {', '.join(sorted(_ONLY))})" if _ONLY else ""),
        f"patients: {total} ({by_style['typist']} typing, {by_style['tapper']} tapping); "
        f"the coordinator's outcomes: {len(leads)} leads ({with_confirm} with criteria for the "
        f"site to confirm), {knockouts} not eligible",
        f"outcome agreement: {n_agree}/{total} = {100 * n_agree / total:.1f}% "
        f"(typing {agreed['typist']}/{by_style['typist']}, "
        f"tapping {agreed['tapper']}/{by_style['tapper']})",
        f"false knockouts: {len(false_ko)}",
        f"caught misreadings (read-backs the patient corrected): {len(caught)}",
        f"read-backs the patient could not check: {len(unreadable)}",
        f"typed replies to a read-back that were not taken: {len(stumbles)}",
        f"messages: {turns} in {seconds:.0f} s ({CONCURRENCY} patients at a time)",
        "",
        f"{'id':<5}{'style':<8}{'turns':>6}  {'coordinator':<48}{'bot':<48}agree",
    ]
    for r in results:
        got = r.outcome.describe() if r.outcome else "-"
        lines.append(
            f"{r.patient.id:<5}{r.patient.style:<8}{len(r.played.turns):>6}  "
            f"{r.patient.expected.describe()[:47]:<48}{got[:47]:<48}"
            f"{'yes' if r.agrees else 'NO'}"
        )
    wrong = [r for r in results if not r.agrees]
    lines += ["", f"Judged differently ({len(wrong)}):"]
    lines += [r.explain() for r in wrong] or ["    none"]
    lines += ["", f"Caught misreadings ({len(caught)}):"]
    lines += [f"    {pid} {c}" for pid, c in caught] or ["    none"]
    if unreadable:
        lines += ["", "Read-backs the patient could not check:"]
        lines += [f"    {pid} {c}" for pid, c in unreadable]
    if stumbles:
        lines += ["", "Typed replies to a read-back that were not taken (the patient then tapped):"]
        lines += [f"    {pid} {c}" for pid, c in stumbles]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def results(stack) -> dict[str, Result]:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        played = list(pool.map(lambda p: _play(p, stack), PATIENTS))
    seconds = time.monotonic() - start
    out = []
    for game in played:
        patient = game.patient
        outcome = outcome_in_store(stack.database_url, patient.sender)
        out.append(
            Result(
                played=game,
                outcome=outcome,
                agrees=game.error is None and agrees(patient.expected, outcome),
                false_knockout=false_knockout(patient.expected, outcome),
                misread=misread_answers(game, outcome, PROTOCOL),
                on_truth=engine_on_truth(patient, PROTOCOL),
            )
        )
    report = summary(out, seconds)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(report, encoding="utf-8")
    TRANSCRIPTS_FILE.write_text(
        "\n\n".join(r.played.transcript() for r in out) + "\n", encoding="utf-8"
    )
    print("\n" + report)
    return {r.patient.id: r for r in out}


def test_sixty_patients_half_typing_half_tapping_with_a_spread_of_outcomes():
    styles = Counter(p.style for p in ALL_PATIENTS)
    assert len(ALL_PATIENTS) >= 60 and styles["typist"] == styles["tapper"]
    leads = [p for p in ALL_PATIENTS if p.expected.outcome == "lead"]
    assert len(leads) >= 25
    assert sum(1 for p in leads if p.expected.confirm) >= 15
    assert sum(1 for p in leads if not p.expected.confirm) >= 5
    knocked_out_by = {p.expected.criterion for p in ALL_PATIENTS if p.expected.outcome != "lead"}
    assert {"age_range", "guardian_present", "inc1_sle_diagnosis", "inc2_background_treatment",
            "exc8_malignancy", "exc9_pregnancy", "exc14_high_dose_steroids"} <= knocked_out_by
    ages = [p.truth["age"] for p in ALL_PATIENTS]
    assert any(a < 18 for a in ages) and any(a > 75 for a in ages)


@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.id)
def test_each_patient_ends_at_least_as_carefully_as_a_coordinator_would(results, patient):
    """Never turned away, and nothing the coordinator would check left unchecked. A patient for
    whom the bot asks the site to check more than the coordinator would is a finding in the
    summary (and counts against the agreement below), not a lost patient."""
    result = results[patient.id]
    assert result.played.error is None, result.explain()
    assert not result.false_knockout, "a false knockout:\n" + result.explain()
    assert at_least_as_careful(patient.expected, result.outcome), result.explain()


# Measured 57/60 (95%) on 2026-12-01 (docs/benchmarks.md): the floor is one patient below it, so
# that a regression fails and one patient's flip does not. The aim is all 60.
MIN_AGREEMENT = 56 / 60


def test_at_least_56_of_60_patients_end_exactly_where_a_coordinator_would(results):
    agreed = sum(1 for r in results.values() if r.agrees)
    assert agreed / len(results) >= MIN_AGREEMENT, "\n".join(
        r.explain() for r in results.values() if not r.agrees
    )


def test_no_simulated_patient_is_turned_away_by_a_misreading(results):
    falsely = [r.explain() for r in results.values() if r.false_knockout]
    assert not falsely, "false knockouts:\n" + "\n".join(falsely)


def _read_back(replies: list[str]) -> bool:
    ask = msg("readback_ask", "en")
    return any(r.strip().endswith(ask) for r in replies)


def test_a_tapped_answer_is_never_read_back(results):
    tapped = [
        f"{r.patient.id} [{turn.question_id}] {turn.sent}"
        for r in results.values()
        for turn in r.played.turns
        if turn.prompt == "question" and turn.sent.startswith("/") and _read_back(turn.replies)
    ]
    assert not tapped


def test_every_typed_medicines_list_is_read_back(results):
    typed = [
        (r.patient.id, turn)
        for r in results.values()
        for turn in r.played.turns
        if turn.question_id == "lupus_meds" and turn.prompt == "question"
        and not turn.sent.startswith("/")
    ]
    assert typed
    assert [f"{pid}: {turn.sent}" for pid, turn in typed if not _read_back(turn.replies)] == []
