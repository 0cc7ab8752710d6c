"""The action server builds what the first answer needs before it listens (actions/server.py)."""

from __future__ import annotations

import logging
import shutil

from actions.server import warm_up
from bot import protocol as protocols
from bot.settings import PROJECT_ROOT

TRIAL = "NCT06675422"


def test_the_warm_up_loads_every_trial_and_reports_one_that_fails(tmp_path, monkeypatch, caplog):
    shutil.copy(PROJECT_ROOT / "trials" / f"{TRIAL}.yml", tmp_path / f"{TRIAL}.yml")
    (tmp_path / "NCT00000000.yml").write_text("questions: [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("TRIALS_DIR", str(tmp_path))
    protocols._load_cached.cache_clear()
    with caplog.at_level(logging.INFO, logger="actions.server"):
        warm_up()
    assert "warm-up: trial NCT00000000 did not load" in caplog.text
    assert "action server warmed up" in caplog.text
    loaded = protocols._load_cached.cache_info()
    protocols.get_protocol(TRIAL)  # the first call after the warm-up reads no file
    assert protocols._load_cached.cache_info().hits == loaded.hits + 1
    assert protocols._load_cached.cache_info().misses == loaded.misses
