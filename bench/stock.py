"""Stock Rasa beside this project: the yardstick of ``bench.load``.

"Stock" is Rasa 3.6.21 as ``rasa init`` sets it up, with the dependency versions pip picks (no
constraints file), in a virtual environment of its own (``var/bench/stock-venv``), trained on
this project's domain.yml and data/ as committed and running this project's custom actions:

- ``config.yml`` is ``rasa init``'s, copied from the installed package's initial project (its
  empty pipeline and policies mean Rasa's default ones: WhitespaceTokenizer, DIET and
  ResponseSelector 100 epochs, Memoization, Rule, UnexpecTED and TED policies);
- the channel is Rasa's own REST channel (``rest:``) and the tracker store Rasa's own
  ``SQLTrackerStore``: this project's connectors (the REST guard, the encrypted tracker store,
  the action-call guard) are part of the project, so stock runs without them;
- the custom actions run in an action server started from the stock venv (``rasa run actions``,
  the project on PYTHONPATH and its actions' packages installed there without constraints), not
  in this project's action server process. Why: the action server's libraries (rasa-sdk, Sanic)
  are part of what pip picks for a stock install, a separate process keeps the two systems'
  memory apart, and the two runs never share a process's warm caches or thread pool.

The model is cached under ``var/bench/stock/models`` by a hash of config, domain and data, so a
second run does not retrain; the training time of the run that trained it is kept beside it.
Training runs at ``nice -n 10`` under ``/tmp/stock.lock`` (one stock training at a time).

    .venv/bin/python -m bench.stock prepare [--revision HEAD]   # venv, project, model
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.deploy.services import Services, wait_for_http
from bot.settings import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
VENV = BENCH_DIR / "stock-venv"
PROJECT = BENCH_DIR / "stock"
LOCK = Path("/tmp/stock.lock")
RASA_SPEC = "rasa==3.6.21"
SDK_SPEC = "rasa-sdk==3.6.*"
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "LOG_LEVEL_LIBRARIES": "ERROR",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}

ENDPOINTS = """\
# Written by bench/stock.py: Rasa's own SQL tracker store, the action server of the stock venv.
action_endpoint:
  url: ${ACTION_ENDPOINT_URL}
tracker_store:
  type: SQL
  dialect: sqlite
  db: ${TRACKER_DB}
"""
CREDENTIALS = "# Written by bench/stock.py: Rasa's own REST channel.\nrest:\n"


@contextmanager
def stock_lock() -> Iterator[None]:
    """``flock /tmp/stock.lock``: one stock venv build or training at a time."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def python() -> Path:
    return VENV / "bin" / "python"


def action_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """The project's own dependencies but Rasa and rasa-sdk: what its actions import.

    Read from pyproject.toml's ``dependencies = [...]`` (Python 3.10 has no tomllib); the version
    ranges are the project's, and pip picks within them, with no constraints file.
    """
    text = pyproject.read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.DOTALL | re.MULTILINE)
    if block is None:
        raise ValueError("no dependencies list in pyproject.toml")
    specs = re.findall(r'^\s*"([^"]+)"', block.group(1), re.MULTILINE)
    return [s for s in specs if not re.match(r"rasa(-sdk)?\b", s, re.IGNORECASE)]


def python310() -> str:
    """A Python 3.10, found as ``make install`` finds it (scripts/find-python310)."""
    found = subprocess.run([str(PROJECT_ROOT / "scripts" / "find-python310")], check=True,
                           capture_output=True, text=True)
    return found.stdout.strip()


def build_venv(log: Path) -> None:
    """``python3.10 -m venv`` and ``pip install rasa==3.6.21 rasa-sdk==3.6.*`` (once)."""
    marker = VENV / ".installed"
    if marker.exists():
        return
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.run([python310(), "-m", "venv", str(VENV)], check=True, stdout=out,
                       stderr=subprocess.STDOUT)
        pip = [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, RASA_SPEC, SDK_SPEC], check=True, stdout=out,
                       stderr=subprocess.STDOUT)
        subprocess.run([*pip, *action_requirements()], check=True, stdout=out,
                       stderr=subprocess.STDOUT)
        freeze = subprocess.run([str(python()), "-m", "pip", "freeze"], check=True,
                                capture_output=True, text=True).stdout
    (VENV / "freeze.txt").write_text(freeze, encoding="utf-8")
    marker.touch()


def versions() -> dict[str, str]:
    """What pip picked, for the report: rasa, rasa-sdk, tensorflow, sanic, SQLAlchemy."""
    picked = {}
    freeze = VENV / "freeze.txt"
    for line in freeze.read_text(encoding="utf-8").splitlines() if freeze.exists() else []:
        name, _, version = line.partition("==")
        if name.lower() in ("rasa", "rasa-sdk", "tensorflow", "sanic", "sqlalchemy"):
            picked[name.lower()] = version
    return picked


def init_config() -> Path:
    """``rasa init``'s config.yml, inside the stock venv's rasa package."""
    found = list((VENV / "lib").glob("python3.*/site-packages/rasa/cli/initial_project/config.yml"))
    if not found:
        raise FileNotFoundError("no rasa package in the stock venv: run `python -m bench.stock "
                                "prepare`")
    return found[0]


def training_files(root: Path) -> list[Path]:
    return [root / "config.yml", root / "domain.yml",
            *sorted(p for p in (root / "data").rglob("*.yml") if p.is_file())]


def fingerprint(root: Path) -> str:
    """A hash of config, domain and data: the model's cache key."""
    digest = hashlib.sha256()
    for path in training_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def write_project(revision: str = "HEAD") -> str:
    """var/bench/stock: rasa init's config, our domain and data as committed at ``revision``
    (never a file someone is editing in the work tree), stock endpoints; its hash."""
    PROJECT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(init_config(), PROJECT / "config.yml")
    if (PROJECT / "data").exists():
        shutil.rmtree(PROJECT / "data")
    archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", revision, "domain.yml",
                              "data"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(PROJECT, filter="data")
    (PROJECT / "endpoints.yml").write_text(ENDPOINTS, encoding="utf-8")
    (PROJECT / "credentials.yml").write_text(CREDENTIALS, encoding="utf-8")
    return fingerprint(PROJECT)


@dataclass(frozen=True)
class StockModel:
    path: Path
    train_seconds: float  # the run that trained it, from scratch
    trained_at: str
    load: str  # the machine's load average when it was trained
    fresh: bool = False  # trained by this call (else: the cache's, trained at trained_at)


def model_for(key: str) -> StockModel | None:
    meta = PROJECT / "models" / f"stock-{key}.json"
    model = PROJECT / "models" / f"stock-{key}.tar.gz"
    if not (meta.exists() and model.exists()):
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    return StockModel(model, data["train_seconds"], data["trained_at"], data["load"])


def stock_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(QUIET_ENV)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # the project's actions and bot package
    env.update(extra or {})
    return env


def train(key: str, log: Path) -> StockModel:
    """Trains from scratch (no cache: a fresh --out folder and no .rasa cache), timed."""
    cached = model_for(key)
    if cached is not None:
        return cached
    out = PROJECT / "models"
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(PROJECT / ".rasa", ignore_errors=True)  # Rasa's training cache
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    start = time.monotonic()
    with log.open("ab") as output:
        subprocess.run(
            ["nice", "-n", "10", str(VENV / "bin" / "rasa"), "train", "--quiet",
             "--out", str(out), "--fixed-model-name", f"stock-{key}"],
            cwd=PROJECT, env=stock_env(), check=True, stdout=output, stderr=subprocess.STDOUT,
        )
    seconds = time.monotonic() - start
    (out / f"stock-{key}.json").write_text(json.dumps({
        "train_seconds": round(seconds, 1),
        "trained_at": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load": load,
    }), encoding="utf-8")
    found = model_for(key)
    assert found is not None
    return StockModel(found.path, found.train_seconds, found.trained_at, found.load, fresh=True)


class StockServices(Services):
    """Stock Rasa's two processes, from the stock venv: ``rasa run`` and ``rasa run actions``.

    Started and stopped like this project's (bot.deploy.services.Services, which this reuses for
    spawning, logs and stopping), with stock commands. Their logs stay in the caller's folder.
    """

    def start(self, timeout: float = 600) -> StockServices:
        rasa = str(VENV / "bin" / "rasa")
        actions = self._spawn("actions", [rasa, "run", "actions", "--actions", "actions",
                                          "--port", str(self.action_port)])
        server = self._spawn("rasa", [
            rasa, "run", "--model", str(self.model),
            "--endpoints", str(PROJECT / "endpoints.yml"),
            "--credentials", str(PROJECT / "credentials.yml"),
            "--port", str(self.rasa_port), "--interface", "127.0.0.1",
            "--enable-api",  # for /status: the model's load is timed until it answers
        ])
        try:
            wait_for_http(f"http://127.0.0.1:{self.action_port}/health", timeout, actions)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/", timeout, server)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/", timeout, server)
            wait_for_http(f"http://127.0.0.1:{self.rasa_port}/status", timeout, server)
        except Exception:
            self.stop()
            raise
        return self


def prepare(log: Path | None = None, revision: str = "HEAD") -> StockModel:
    """Everything stock needs, under the lock: venv, project folder (domain and data as
    committed at ``revision``), model."""
    log = log or BENCH_DIR / "stock-prepare.log"
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with stock_lock():
        build_venv(log)
        return train(write_project(revision), log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--revision", default="HEAD",
                        help="train on domain.yml and data/ as committed here (default HEAD)")
    args = parser.parse_args()
    model = prepare(revision=args.revision)
    print(f"stock model {model.path} (trained in {model.train_seconds:.0f} s on "
          f"{model.trained_at}, load {model.load}); {versions()}", file=sys.stderr)


if __name__ == "__main__":
    main()
