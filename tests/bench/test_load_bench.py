"""The load benchmark's pure parts (bench/load.py, bench/stock.py): its percentile maths, its
patients and how it reads what a reply asks, the stock model's cache key and requirements."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from bench import load, stock
from bot.messages import msg
from bot.protocol import get_protocol
from bot.settings import PROJECT_ROOT


def test_percentiles_interpolate_between_ranks_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert load.percentile(values, 50) == 25.0
    assert load.percentile(values, 0) == 10.0
    assert load.percentile(values, 100) == 40.0
    assert load.percentile(values, 95) == pytest.approx(38.5)  # numpy.percentile: 38.5
    assert load.percentile([7.0], 99) == 7.0
    assert load.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert load.percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    assert math.isnan(load.percentile([], 50))
    with pytest.raises(ValueError):
        load.percentile(values, 101)


def test_a_tally_gives_rates_per_second_and_per_minute() -> None:
    tally = load.Tally(latencies=[10.0, 20.0, 30.0, 40.0], screenings=2, seconds=2.0)
    tally.error("HTTP 503")
    tally.error("HTTP 503")
    tally.error("timeout")
    row = tally.row()
    assert row["msg_per_s"] == 2.0
    assert row["screenings_per_min"] == 60.0
    assert row["p50_ms"] == 25.0
    assert row["errors"] == 3
    assert row["error_kinds"] == {"HTTP 503": 2, "timeout": 1}


def test_the_mix_has_free_text_and_buttons_and_every_kind_of_outcome() -> None:
    patients = load.bench_patients()
    styles = {(p.style, load.outcome_kind(p)) for p in patients}
    for style in ("typist", "tapper"):
        for outcome in ("lead", "lead-not-sure", "knockout"):
            assert (style, outcome) in styles
    with pytest.raises(ValueError, match="X99"):
        load.bench_patients(["T01", "X99"])


def test_what_a_reply_asks_is_read_as_the_simulated_patient_reads_it() -> None:
    protocol = get_protocol(load.sim.TRIAL)
    reader = load.sim.Reader(protocol)
    age = next(q for q in protocol.questions if q.id == "age")
    assert load.prompt_key(reader, [{"text": age.text.get("en")}]) == "question:age"
    assert load.prompt_key(reader, [{"text": msg("ask_email", "en")}]) == "email"
    assert load.prompt_key(reader, [{"text": "something the bot never says"}]) == "unknown"


def test_the_stock_model_is_keyed_by_config_domain_and_data(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "data" / "nlu").mkdir(parents=True)
    (project / "config.yml").write_text("recipe: default.v1\n")
    (project / "domain.yml").write_text("version: '3.1'\n")
    (project / "data" / "nlu" / "a.yml").write_text("nlu: []\n")
    first = stock.fingerprint(project)
    assert stock.fingerprint(project) == first
    (project / "data" / "nlu" / "a.yml").write_text("nlu: [x]\n")
    edited = stock.fingerprint(project)
    assert edited != first
    shutil.copyfile(project / "data" / "nlu" / "a.yml", project / "data" / "nlu" / "b.yml")
    assert stock.fingerprint(project) not in (first, edited)  # a file more is another model
    (project / "data" / "nlu" / "b.yml").unlink()
    (project / "config.yml").write_text("recipe: default.v1\nlanguage: en\n")
    assert stock.fingerprint(project) not in (first, edited)


def test_stock_installs_what_the_actions_import_but_rasa_itself_from_pip() -> None:
    wanted = stock.action_requirements(PROJECT_ROOT / "pyproject.toml")
    assert not [w for w in wanted if w.lower().startswith("rasa")]
    assert any(w.startswith("SQLAlchemy") for w in wanted)
    assert any(w.startswith("cryptography") for w in wanted)


def test_screenings_per_minute_are_derived_from_messages_when_the_mix_length_is_given() -> None:
    # 4 messages in 2 s with screenings of 30 messages: 2 msg/s, 4 screenings a minute, though
    # none was completed in so short a step.
    tally = load.Tally(latencies=[10.0, 20.0, 30.0, 40.0], screenings=0, seconds=2.0)
    row = tally.row(messages_per_screening=30.0)
    assert row["screenings_per_min"] == 4.0
    assert row["screenings_completed"] == 0
    assert tally.row()["screenings_per_min"] == 0.0  # counted: none completed


def test_the_guards_kind_reply_is_an_action_call_failure_not_a_divergence() -> None:
    for lang in ("en", "zh"):
        assert load.is_action_failed([{"text": "Thanks."}, {"text": msg("action_failed", lang)}])
    assert not load.is_action_failed([{"text": msg("ask_email", "en")}])
    assert not load.is_action_failed([{"image": "x.png"}])


def test_systems_take_turns_going_first_at_each_step() -> None:
    a, b = object(), object()
    assert load.turns([a, b], 0) == [a, b]  # type: ignore[list-item]
    assert load.turns([a, b], 1) == [b, a]  # type: ignore[list-item]
    assert load.turns([a, b], 2) == [a, b]  # type: ignore[list-item]
    assert load.turns([a], 1) == [a]  # type: ignore[list-item]


def test_the_report_prints_both_systems_the_ratio_per_level_and_the_peak_ratio() -> None:
    args = load.parse_args(["--modes", "sweep", "--sweep", "1,2", "--step-seconds", "4"])

    def results(name: str, rates: tuple[float, float]) -> load.Results:
        r = load.Results(name, [], None, messages_per_screening=30.0)
        for level, rate, first in zip((1, 2), rates, ("project", "stock"), strict=True):
            tally = load.Tally(latencies=[50.0] * int(rate * 4), seconds=4.0)
            r.sweep[level] = {**tally.row(30.0), "first": first, "load": 1.5}
        return r

    text = load.report([results("project", (4.0, 8.0)), results("stock", (2.0, 2.0))], args)
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("|") and line[2:3].isspace()}
    # patients, project msg/s and scr/min ... stock msg/s ..., ratio, who went first, load
    assert rows["1"][1:3] == ["4.0", "8.0"] and rows["1"][7] == "2.0"
    assert rows["1"][-3:] == ["2.00x", "project", "1.5"]
    assert rows["2"][-3:] == ["4.00x", "stock", "1.5"]
    assert "ratio 4.00x" in text  # peak 8.0 over peak 2.0
    assert "derived, not counted" in text
