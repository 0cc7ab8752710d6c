"""Training time from scratch and model load time, as `make model` and `make run` see them.

Training: `rasa train` with an empty training cache (its own RASA_CACHE_DIRECTORY) into a
temporary folder, so nothing cached from an earlier run is reused and models/ is not touched.
Load: the Rasa server alone (`python -m channels.action_calls run`, as bot.deploy.services
starts it: no action server, an in-memory tracker store) on a free port with that model, timed
from the process start until GET /status answers, then until its first parse (POST
/model/parse of a Chinese message) answers.

    .venv/bin/python -m bench.train_time [--config config.yml] [--runs 1]
    .venv/bin/python -m bench.train_time --model models/prescreen.tar.gz   (load time only)

Train under the model lock when others share the machine (`flock /tmp/model.lock ...`): the
figures are wall-clock seconds, and a second training at the same time doubles them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.deploy.services import free_port

ROOT = Path(__file__).resolve().parent.parent
RASA = str(Path(sys.executable).with_name("rasa"))
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "LOG_LEVEL_LIBRARIES": "ERROR",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


def environment(workdir: Path) -> dict[str, str]:
    env = {**os.environ, **QUIET_ENV, "RASA_CACHE_DIRECTORY": str(workdir / "cache")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def train(config: Path, workdir: Path, project: Path = ROOT) -> tuple[float, Path]:
    """Seconds `rasa train` took with an empty cache, and the model it wrote; the domain and
    the training data are ``project``'s (domain.yml, data/)."""
    log = workdir / "train.log"
    start = time.perf_counter()
    with log.open("wb") as out:
        result = subprocess.run(
            [RASA, "train", "--config", str(config), "--domain", str(project / "domain.yml"),
             "--data", str(project / "data"),
             "--out", str(workdir), "--fixed-model-name", "bench", "--quiet"],
            cwd=ROOT, env=environment(workdir), stdout=out, stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"rasa train failed ({result.returncode}); its output: {log}")
    return seconds, workdir / "bench.tar.gz"


def _get(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _parse(url: str, text: str) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps({"text": text}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def load(model: Path, workdir: Path, timeout: float = 300) -> tuple[float, float]:
    """Seconds from starting the Rasa server until /status answers, and until its first parse."""
    port = free_port()
    credentials = workdir / "credentials.yml"
    credentials.write_text("channels.rest.RestInput:\n  mode: open\n", encoding="utf-8")
    endpoints = workdir / "endpoints.yml"  # none: the in-memory tracker store, no action server
    endpoints.write_text("{}\n", encoding="utf-8")
    log = workdir / f"rasa-{port}.log"
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "channels.action_calls", "run", "--model", str(model),
             "--enable-api", "--port", str(port), "--interface", "127.0.0.1",
             "--credentials", str(credentials), "--endpoints", str(endpoints)],
            cwd=ROOT, env=environment(workdir), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        while not _get(f"{base}/status"):
            if proc.poll() is not None:
                sys.exit(f"rasa run exited with {proc.returncode}; its output: {log}")
            if time.perf_counter() - start > timeout:
                sys.exit(f"rasa run did not answer within {timeout:.0f} s; its output: {log}")
            time.sleep(0.1)
        status = time.perf_counter() - start
        _parse(f"{base}/model/parse", "我今年四十岁")
        first_parse = time.perf_counter() - start
    finally:
        stop(proc)
    return status, first_parse


def stop(proc: subprocess.Popen) -> None:
    """End the server's process group (it was started in its own), at once if it hangs."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load1:.1f} (1 min) {load5:.1f} (5 min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--model", type=Path, help="only time loading this model")
    parser.add_argument("--runs", type=int, default=1, help="load runs (each a new server)")
    parser.add_argument("--keep", type=Path, help="train into this folder and keep the model")
    parser.add_argument("--project", type=Path, default=ROOT,
                        help="the folder with domain.yml and data/ (a snapshot of another commit)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="train-time-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        model = args.model
        if model is None:
            seconds, model = train(args.config.resolve(), workdir, args.project.resolve())
            print(f"training from scratch ({args.config.name}): {seconds:.1f} s, model "
                  f"{model.stat().st_size / 1e6:.1f} MB")
        for _ in range(args.runs):
            status, first_parse = load(model.resolve(), workdir)
            print(f"load ({model.name}): /status answers after {status:.1f} s, first parse "
                  f"after {first_parse:.1f} s")
        print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
