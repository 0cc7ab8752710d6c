"""Load benchmark: whole screenings on the REST channel, this project beside stock Rasa.

Simulated patients play whole screenings through the REST channel, for this project and for
stock Rasa in the same run, so the ratio holds on a noisy machine (issue 10): both stacks are
started (one after the other, each start timed) and left running, and every sweep level and the
realistic mode run on each back to back, the first one alternating, so both see the same
machine. Before that, this project's training from scratch and its model's load are timed by
bench/train_time.py (``--no-train``, ``--no-times``); stock's training is timed when the run
trains it (else the cached model's figure is printed with its date).

The patients are the end-to-end suite's (tests/e2e/patients.yml, played by tests/e2e/patients.py):
a fixed mix of typists (free text) and tappers (buttons) whose screenings end in leads, knockouts
and leads with "not sure" answers (:data:`MIX`). Each system first plays every patient of the
mix once, alone (``play`` drives the conversation: read-backs checked, answers corrected), which
gives the *alone* figures and records each screening's messages. The load modes replay those
recordings with fresh senders from one asyncio loop, so the load generator stays light; each
reply is checked against the recording (the same prompt: the same question, read-back or end),
and a reply that differs counts as *diverged*.

Modes (each printed as a table, this project beside stock Rasa):

- ``alone``: one patient at a time, sequential turns; per-turn p50/p95/p99, the 2nd and the 30th
  answer's latency (median over the screenings that long), how many screenings reached the
  coordinator's outcome;
- ``sweep``: 1, 2, 4, 8, 16, 32 patients who answer the moment the reply arrives, for
  ``--step-seconds`` each: messages/s, screenings/min, latency, errors; peak messages/s and the
  ratio to stock;
- ``realistic``: ``--patients`` (100) at once, each pausing a random 1-5 s before each reply.

Every server process's peak memory is the kernel's high-water mark (``VmHWM`` in
/proc/<pid>/status) of the process and its children, read when the system's run ends.

Both systems run on SQLite in a temporary folder (the project's database and the tracker store),
with the outbox worker off (it sends email after the turn; no turn waits on it). This project
runs as ``python -m bot run`` does: its REST channel in token mode, the encrypted tracker store
and the action-call guard; stock runs Rasa's own REST channel and SQL tracker store
(bench/stock.py says what else "stock" means, and which action server it uses).

    .venv/bin/python -m bench.load                                 # everything, ~12-15 min
    .venv/bin/python -m bench.load --modes alone,sweep --no-stock --no-times
    .venv/bin/python -m bench.load --target http://127.0.0.1:8080 --token "$REST_CHANNEL_TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.deploy.credentials import write_credentials
from bot.deploy.services import Services, free_port, latest_model, rasa_environment, wait_for_http
from bot.messages import msg
from bot.settings import PROJECT_ROOT

# The e2e suite's patients: tests/ is not a package on the path of `python -m bench.load` alone.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
from tests.e2e import patients as sim  # noqa: E402

# Typists type every answer, tappers tap every button that says what they mean. Leads, leads
# with "not sure" answers (T23, P09) and knockouts early and late in the screening.
MIX = ("T01", "T23", "T15", "T19", "P01", "P09", "P21", "P26")
SWEEP = (1, 2, 4, 8, 16, 32)
REQUEST_TIMEOUT = 60.0
RESULTS_DIR = PROJECT_ROOT / "var" / "bench"

# ---- the figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's
    default), so p50 of an even count is the mean of the middle two."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Tally:
    """What one step of load produced."""

    latencies: list[float] = field(default_factory=list)  # ms per answered message
    errors: int = 0  # HTTP status not 200, timeouts, refused connections
    diverged: int = 0  # a reply other than the recording's: the screening is abandoned
    # The action-call guard's kind reply (``action_failed``): an action call failed or timed
    # out (channels/action_calls.py, ACTION_CALL_TIMEOUT); the screening is abandoned too.
    action_failed: int = 0
    screenings: int = 0  # screenings played to their last message
    seconds: float = 0.0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    @property
    def messages(self) -> int:
        return len(self.latencies)

    def row(self, messages_per_screening: float | None = None) -> dict[str, Any]:
        """The figures; with ``messages_per_screening`` (the mix's mean), screenings per minute
        are derived from messages/s, not counted: a step shorter than a screening completes
        few of them, and would read near zero whatever the throughput."""
        per_second = self.messages / self.seconds if self.seconds else math.nan
        if messages_per_screening:
            per_minute = per_second * 60 / messages_per_screening
        else:
            per_minute = self.screenings / self.seconds * 60 if self.seconds else math.nan
        return {
            "messages": self.messages,
            "msg_per_s": round(per_second, 1),
            "screenings_per_min": round(per_minute, 1),
            "screenings_completed": self.screenings,
            "p50_ms": round(percentile(self.latencies, 50), 1),
            "p95_ms": round(percentile(self.latencies, 95), 1),
            "p99_ms": round(percentile(self.latencies, 99), 1),
            "errors": self.errors,
            "diverged": self.diverged,
            "action_failed": self.action_failed,
            "error_kinds": dict(self.error_kinds),
        }


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (also valid Markdown)."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [f"\n{title}", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join([*out, *(line(r) for r in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.1f}"
    return str(value)


# ---- talking to a server -------------------------------------------------------------------------


class Client:
    """The REST channel, through one aiohttp session (one connection pool for every patient)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def send(self, sender: str, text: str) -> tuple[list[dict], float]:
        """The bot's replies and the turn's latency in ms; raises on anything but a 200."""
        assert self.session is not None
        body = json.dumps({"sender": sender, "message": text})
        start = time.perf_counter()
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            payload = await response.read()
            ms = (time.perf_counter() - start) * 1000
            if response.status != 200:
                raise TurnError(f"HTTP {response.status}")
        return json.loads(payload), ms


class TurnError(Exception):
    """A turn that did not get a 200."""


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, TurnError):
        return str(exc)
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return type(exc).__name__


# ---- the patients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """One recorded screening: what the patient sent, and what each reply asked."""

    patient: str
    style: str  # typist (free text) or tapper (buttons)
    outcome: str  # lead, lead-not-sure or knockout: what the coordinator expects
    messages: tuple[str, ...]
    prompts: tuple[str, ...]  # prompt_key() of the replies to each message


def outcome_kind(patient: sim.Patient) -> str:
    if patient.expected.outcome == "not_eligible":
        return "knockout"
    return "lead-not-sure" if "unsure" in patient.truth.values() else "lead"


def prompt_key(reader: sim.Reader, replies: Sequence[dict]) -> str:
    """What a reply asks, as the simulated patient reads it: ``question:age``, ``readback``..."""
    prompt = reader.prompt(replies)
    return f"{prompt.kind}:{prompt.question.id}" if prompt.question else prompt.kind


ACTION_FAILED = frozenset(msg("action_failed", lang).strip() for lang in ("en", "zh"))


def is_action_failed(replies: Sequence[dict]) -> bool:
    """The action-call guard's kind reply ("please send that again"), in either language:
    an action call failed or timed out, which overload causes; not a divergence of the bot."""
    return any((r.get("text") or "").strip() in ACTION_FAILED for r in replies)


def bench_patients(ids: Sequence[str] = MIX) -> list[sim.Patient]:
    by_id = {p.id: p for p in sim.load_patients()}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"no such patients in {sim.PATIENTS_FILE.name}: {', '.join(missing)}")
    return [by_id[i] for i in ids]


@dataclass
class Played:
    script: Script
    latencies: list[float]
    error: str | None  # the simulator's, or the transport's
    reached: bool | None  # the coordinator's outcome, in the project's store; None: not checked


async def play_alone(
    client: Client, patient: sim.Patient, sender: str, reader: sim.Reader,
    judge: Callable[[sim.Patient, str], bool] | None,
) -> Played:
    """One patient alone, played by the e2e simulator (a thread: it is synchronous code), each
    turn sent from this loop. Records the screening for the load modes."""
    loop = asyncio.get_running_loop()
    messages: list[str] = []
    prompts: list[str] = []
    latencies: list[float] = []

    def talk(_sender: str, text: str) -> list[dict]:
        replies, ms = asyncio.run_coroutine_threadsafe(client.send(sender, text), loop).result()
        messages.append(text)
        prompts.append(prompt_key(reader, replies))
        latencies.append(ms)
        return replies

    error = None
    try:
        played = await asyncio.to_thread(sim.play, patient, talk, reader.protocol)
        error = played.error
    except Exception as exc:  # a transport error ends the screening; it is reported
        error = error_kind(exc)
    script = Script(patient.id, patient.style, outcome_kind(patient), tuple(messages),
                    tuple(prompts))
    reached = None
    if judge is not None and error is None:
        reached = await asyncio.to_thread(judge, patient, sender)
    return Played(script, latencies, error, reached)


async def replay(client: Client, script: Script, sender: str, reader: sim.Reader, tally: Tally,
                 pause: Callable[[], float] | None = None, deadline: float | None = None) -> None:
    """One recorded screening under a new sender. A reply that is not the recording's, or an
    error, abandons it (a real patient would be stuck there too); at the deadline it stops
    before the next message, and a screening cut short is not counted as played."""
    for text, expected in zip(script.messages, script.prompts, strict=True):
        if pause is not None:
            await asyncio.sleep(pause())
        if deadline is not None and time.monotonic() >= deadline:
            return
        try:
            replies, ms = await client.send(sender, text)
        except Exception as exc:
            tally.error(error_kind(exc))
            return
        tally.latencies.append(ms)
        if prompt_key(reader, replies) != expected:
            if is_action_failed(replies):
                tally.action_failed += 1
            else:
                tally.diverged += 1
            return
    tally.screenings += 1


async def load_step(client: Client, scripts: Sequence[Script], reader: sim.Reader, patients: int,
                    seconds: float, label: str, pause: Callable[[], float] | None = None) -> Tally:
    """``patients`` at once for ``seconds``: each plays screenings one after another (the mix in
    turn, from its own offset) and starts no new message after the deadline."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    run = secrets.token_hex(3)

    async def patient(number: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            script = scripts[(number + n) % len(scripts)]
            await replay(client, script, f"bench-{label}-{run}-{number}-{n}", reader, tally,
                         pause, deadline)
            n += 1

    start = time.monotonic()
    await asyncio.gather(*(patient(i) for i in range(patients)))
    tally.seconds = time.monotonic() - start
    return tally


# ---- the systems -------------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of resident memory (VmHWM) of a process and its descendants, MB."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class System:
    """A running system to load: where its REST channel is, and its processes."""

    name: str
    base_url: str
    token: str | None = None
    pids: dict[str, int] = field(default_factory=dict)  # rasa, actions
    start_seconds: float | None = None  # from starting the Rasa server to its REST answering
    database_url: str | None = None  # the project's store, to check outcomes
    notes: list[str] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None

    def memory(self) -> dict[str, float]:
        return {name: round(peak_rss_mb(pid), 0) for name, pid in self.pids.items()}


def start_project(base: Path, model: Path) -> System:
    """This project as ``python -m bot run`` starts it (bot.deploy.services)."""
    token = secrets.token_urlsafe(24)
    rasa_port, action_port = free_port(), free_port()
    channels = {"REST_CHANNEL": "token", "REST_CHANNEL_TOKEN": token}
    credentials = base / "credentials.yml"
    write_credentials(credentials, channels)
    db_url = f"sqlite:///{base / 'prescreen.db'}"
    env = rasa_environment(rasa_port, action_port, {**bench_env(base, db_url), **channels})
    from bot.db import init_db

    init_db(db_url)
    started = time.monotonic()
    services = Services(rasa_port, action_port, model, env, base / "log", credentials,
                        outbox_worker=False).start(600)
    system = System(
        "project", f"http://127.0.0.1:{rasa_port}", token,
        {name: proc.pid for name, proc in services.processes.items()},
        time.monotonic() - started, db_url, stop=services.stop,
        notes=[f"model {model.name}; REST channel (token mode), encrypted SQL tracker store "
               "(SQLite), action-call guard; the project's action server"],
    )
    return system


def bench_env(base: Path, db_url: str) -> dict[str, str]:
    """Settings both systems' actions run with: stores in ``base``, no email, no rate limit
    (every simulated patient comes from 127.0.0.1, as fast as the bot replies)."""
    return {
        "DATABASE_URL": db_url,
        "TRACKER_STORE_URL": f"sqlite:///{base / 'rasa.db'}",
        "OUTBOX_DIR": str(base / "outbox"),
        "SPOOL_DIR": str(base / "spool"),
        "SMTP_HOST": "",
        "DOTENV_DISABLED": "1",
        "RATE_LIMIT_PER_SENDER": "1000000",
        "RATE_LIMIT_PER_ADDRESS": "1000000",
    }


def start_stock(base: Path, revision: str) -> System:
    """Stock Rasa (bench.stock): trained if its cache has no model for the domain and data of
    ``revision``, started from its venv with its own action server."""
    from bench import stock

    prepared = stock.prepare(base / "stock-prepare.log", revision)
    rasa_port, action_port = free_port(), free_port()
    db_url = f"sqlite:///{base / 'prescreen.db'}"
    env = rasa_environment(rasa_port, action_port, bench_env(base, db_url))
    env = stock.stock_env({
        **{k: v for k, v in env.items() if k not in ("PATH", "PYTHONPATH")},
        "TRACKER_DB": str(base / "stock-rasa.db"),
        "SANIC_HOST": "127.0.0.1",
    })
    from bot.db import init_db

    init_db(db_url)
    services = stock.StockServices(rasa_port, action_port, prepared.path, env, base / "log")
    started = time.monotonic()
    services.start(600)
    picked = stock.versions()
    return System(
        "stock", f"http://127.0.0.1:{rasa_port}", None,
        {name: proc.pid for name, proc in services.processes.items()},
        time.monotonic() - started, db_url, stop=services.stop,
        notes=[
            f"stock Rasa {picked.get('rasa', '?')}, rasa-sdk {picked.get('rasa-sdk', '?')}, "
            f"TensorFlow {picked.get('tensorflow', '?')}, Sanic {picked.get('sanic', '?')} "
            "(pip's picks); rasa init's config.yml; Rasa's own REST channel and SQL tracker "
            "store (SQLite); `rasa run actions` from the stock venv running this project's "
            "actions",
            f"stock trained on domain.yml and data/ of {revision}; from scratch in "
            f"{prepared.train_seconds:.0f} s at nice 10 "
            + ("in this run" if prepared.fresh else "(cached: not this run's)")
            + f" (trained {prepared.trained_at}, load average then {prepared.load})",
            f"stock model load: {time.monotonic() - started:.1f} s from starting both servers "
            "to /status answering (Rasa's own server, --enable-api)",
        ],
    )


def judge_for(system: System) -> Callable[[sim.Patient, str], bool] | None:
    if system.database_url is None:
        return None
    url = system.database_url

    def judge(patient: sim.Patient, sender: str) -> bool:
        return sim.agrees(patient.expected, sim.outcome_in_store(url, sender))

    return judge


# ---- the modes ---------------------------------------------------------------------------------


@dataclass
class Results:
    system: str
    notes: list[str]
    start_seconds: float | None
    alone: dict[str, Any] = field(default_factory=dict)
    sweep: dict[int, dict[str, Any]] = field(default_factory=dict)
    realistic: dict[str, Any] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)
    load_at_start: str = ""  # the machine's load average when this system's measuring began
    messages_per_screening: float = math.nan  # the mix's mean, recorded alone
    timings: list[str] = field(default_factory=list)  # training and load, this run's


def nth_answer(runs: Sequence[Played], n: int) -> float:
    """Median latency of the n-th answer (the message after ``hi`` is the 1st) over the
    screenings that have one."""
    found = [r.latencies[n] for r in runs if len(r.latencies) > n]
    return statistics.median(found) if found else math.nan


async def run_alone(client: Client, system: System, patients: Sequence[sim.Patient],
                    reader: sim.Reader, rounds: int) -> tuple[dict[str, Any], list[Script]]:
    runs: list[Played] = []
    run = secrets.token_hex(3)
    start = time.monotonic()
    for r in range(rounds):
        for patient in patients:
            runs.append(await play_alone(client, patient, f"bench-alone-{run}-{r}-{patient.id}",
                                         reader, judge_for(system)))
    seconds = time.monotonic() - start
    latencies = [ms for r in runs for ms in r.latencies]
    scripts = [r.script for r in runs[:len(patients)] if r.error is None]
    tally = Tally(latencies=latencies, errors=sum(r.error is not None for r in runs),
                  screenings=sum(r.error is None for r in runs), seconds=seconds)
    row = tally.row()
    row.update({
        "answer_2_ms": round(nth_answer(runs, 2), 1),
        "answer_30_ms": round(nth_answer(runs, 30), 1),
        "screenings": len(runs),
        "reached_outcome": "-" if system.database_url is None
        else sum(bool(r.reached) for r in runs),
        "simulator_errors": sorted({f"{r.script.patient}: {r.error}" for r in runs if r.error}),
        "turns_per_screening": {s.patient: len(s.messages) for s in scripts},
    })
    return row, scripts


@dataclass
class Runner:
    """One running system under measurement: its client, its recorded screenings, its figures."""

    system: System
    client: Client
    results: Results
    scripts: list[Script] = field(default_factory=list)

    @property
    def messages_per_screening(self) -> float:
        """The mix's mean screening length: the load steps play the mix in turn."""
        return statistics.mean(len(s.messages) for s in self.scripts)


async def record(runner: Runner, patients: Sequence[sim.Patient], reader: sim.Reader,
                 args: argparse.Namespace) -> None:
    """Warm-up, then every patient alone (the ``alone`` figures), recording the screenings."""
    system, client = runner.system, runner.client
    runner.results.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # Warm-up: a first screening pays for lazy imports and caches on both sides.
    await play_alone(client, patients[0], f"bench-warmup-{secrets.token_hex(3)}", reader, None)
    alone, scripts = await run_alone(client, system, patients, reader,
                                     args.alone_rounds if "alone" in args.modes else 1)
    if not scripts:
        raise RuntimeError(f"{system.name}: no screening could be recorded: "
                           f"{alone['simulator_errors']}")
    runner.results.alone, runner.scripts = alone, scripts
    runner.results.messages_per_screening = round(runner.messages_per_screening, 1)


def turns(runners: Sequence[Runner], step: int) -> list[Runner]:
    """Who goes first at a step: the given order at even steps, reversed at odd ones, so
    neither system always meets the machine the other has just warmed (or loaded)."""
    return list(runners) if step % 2 == 0 else list(reversed(runners))


async def interleave(runners: Sequence[Runner], reader: sim.Reader,
                     args: argparse.Namespace) -> None:
    """The load modes, every level run by each system back to back (alternating who goes
    first), so both see the same machine within seconds of each other."""
    rng = random.Random(args.seed)
    step = 0
    if "sweep" in args.modes:
        for level in args.sweep:
            for runner in turns(runners, step):
                tally = await load_step(runner.client, runner.scripts, reader, level,
                                        args.step_seconds, f"sweep{level}")
                row = tally.row(runner.messages_per_screening)
                row["load"] = round(os.getloadavg()[0], 2)
                row["first"] = turns(runners, step)[0].system.name
                runner.results.sweep[level] = row
            print("  sweep " + str(level) + ": " + ", ".join(
                f"{r.system.name} {r.results.sweep[level]['msg_per_s']} msg/s"
                for r in runners) + ratio_text(runners, level), file=sys.stderr)
            step += 1
    if "realistic" in args.modes:
        low, high = args.pause
        for runner in turns(runners, step):
            tally = await load_step(runner.client, runner.scripts, reader, args.patients,
                                    args.realistic_seconds, "real",
                                    pause=lambda: rng.uniform(low, high))
            row = tally.row(runner.messages_per_screening)
            row["load"] = round(os.getloadavg()[0], 2)
            runner.results.realistic = row


def ratio_text(runners: Sequence[Runner], level: int) -> str:
    by = {r.system.name: r.results.sweep[level]["msg_per_s"] for r in runners}
    ours = by.get("project", by.get("target"))
    if ours is None or not by.get("stock"):
        return ""
    return f", ratio {ours / by['stock']:.2f}x"


async def start_all(starts: Sequence[Callable[[], System]]) -> list[System]:
    """Each system started in turn (so each start time is its own, not two loads at once), all
    left running: the load modes then alternate between them."""
    systems: list[System] = []
    try:
        for start in starts:
            systems.append(await asyncio.to_thread(start))
    except BaseException:
        for system in systems:
            await asyncio.to_thread(system.stop)
        raise
    return systems


async def run_systems(systems: Sequence[System], args: argparse.Namespace) -> list[Results]:
    patients = bench_patients(args.patients_mix.split(","))
    reader = sim.Reader(sim.get_protocol(sim.TRIAL))
    async with contextlib.AsyncExitStack() as stack:
        runners = [Runner(s, await stack.enter_async_context(Client(s.base_url, s.token)),
                          Results(s.name, s.notes, s.start_seconds)) for s in systems]
        for runner in runners:
            await record(runner, patients, reader, args)
            print(f"  {runner.system.name} alone: {runner.results.alone['msg_per_s']} msg/s",
                  file=sys.stderr)
        await interleave(runners, reader, args)
    for runner in runners:
        runner.results.memory_mb = runner.system.memory()
    return [r.results for r in runners]


def time_training(args: argparse.Namespace, base: Path) -> list[str]:
    """This project's training from scratch and its model's load (bench/train_time.py, H1's),
    measured in this run before the stacks start, so no load step competes with them."""
    from bench import train_time

    lines = []
    work = base / "train-time"
    work.mkdir()
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.train:
        seconds, _trained = train_time.train(PROJECT_ROOT / "config.yml", work)
        lines.append(f"project: training from scratch (bench/train_time.py, config.yml, the "
                     f"work tree's domain and data): {seconds:.1f} s (load average {load_avg} "
                     "at its start)")
    model = args.model or latest_model()
    status, first_parse = train_time.load(model.resolve(), work)
    lines.append(f"project: model load ({model.name}, Rasa server alone): /status answers after "
                 f"{status:.1f} s, first parse after {first_parse:.1f} s")
    return lines


# ---- the report --------------------------------------------------------------------------------


def report(all_results: Sequence[Results], args: argparse.Namespace) -> str:
    out = [machine_line()]
    for r in all_results:
        out += r.timings
    for r in all_results:
        out += [f"{r.system}: {note}" for note in r.notes]
        out.append(f"{r.system}: load average {r.load_at_start} when its measuring began")
        if r.start_seconds is not None:
            out.append(f"{r.system}: start to answering (both servers, model loaded, "
                       f"started one after the other): {r.start_seconds:.1f} s")
    names = [r.system for r in all_results]
    by = {r.system: r for r in all_results}
    if all(r.alone for r in all_results) and "alone" in args.modes:
        keys = [("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"),
                ("answer_2_ms", "2nd answer ms"), ("answer_30_ms", "30th answer ms"),
                ("msg_per_s", "msg/s"), ("messages", "messages"),
                ("screenings", "screenings"), ("reached_outcome", "coordinator's outcome"),
                ("errors", "errors")]
        out.append(table("One patient alone (sequential turns; target p50 <= 25 ms, "
                         "30th answer <= 2nd + 20%)", ["", *names],
                         [[label, *(by[n].alone[k] for n in names)] for k, label in keys]))
        for r in all_results:
            if r.alone["simulator_errors"]:
                out.append(f"{r.system}: screenings that ended early: "
                           f"{'; '.join(r.alone['simulator_errors'])}")
    mean = {r.system: r.messages_per_screening for r in all_results}
    derived = ("scr/min = msg/s x 60 / the mix's mean messages per screening ("
               + ", ".join(f"{n} {mean[n]:.1f}" for n in names) + "): derived, not counted")
    ours = next((n for n in names if n in ("project", "target")), None)
    compare = ours is not None and "stock" in names
    if all(r.sweep for r in all_results):
        rows = []
        for level in args.sweep:
            row: list[Any] = [level]
            for n in names:
                s = by[n].sweep[level]
                row += [s["msg_per_s"], s["screenings_per_min"], s["p50_ms"], s["p95_ms"],
                        s["p99_ms"], s["errors"] + s["diverged"] + s["action_failed"]]
            if compare:
                stock_rate = by["stock"].sweep[level]["msg_per_s"]
                row.append(f"{by[ours].sweep[level]['msg_per_s'] / stock_rate:.2f}x"
                           if stock_rate else "-")
            row += [by[names[0]].sweep[level].get("first", "-"),
                    by[names[0]].sweep[level].get("load", "-")]
            rows.append(row)
        header = ["patients", *(f"{n} {h}" for n in names
                                for h in ("msg/s", "scr/min", "p50", "p95", "p99", "err")),
                  *(["ratio"] if compare else []), "first", "load"]
        out.append(table(f"Capacity sweep ({args.step_seconds:g} s a step per system, both "
                         "systems back to back at each level; answers sent the moment the "
                         "reply arrives; err = errors + diverged + action-call failures; load "
                         "= 1-min load average after the level)", header, rows))
        out.append(derived)
        peaks = {n: max(s["msg_per_s"] for s in by[n].sweep.values()) for n in names}
        line = ", ".join(f"{n} {peaks[n]:.1f} msg/s" for n in names)
        if compare and peaks["stock"]:
            line += f"; ratio {peaks[ours] / peaks['stock']:.2f}x (target >= 7x)"
        out.append(f"peak: {line}")
    if all(r.realistic for r in all_results):
        keys = [("msg_per_s", "msg/s"), ("screenings_per_min", "screenings/min (derived)"),
                ("screenings_completed", "screenings completed (counted)"),
                ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"),
                ("errors", "errors (HTTP, timeouts)"),
                ("action_failed", "action-call failures (guard's reply)"),
                ("diverged", "diverged (other replies)"), ("load", "load after")]
        out.append(table(f"Realistic: {args.patients} patients, {args.pause[0]:g}-"
                         f"{args.pause[1]:g} s pause before each reply, "
                         f"{args.realistic_seconds:g} s each, back to back (target p95 <= "
                         "150 ms, 0 errors)", ["", *names],
                         [[label, *(by[n].realistic[k] for n in names)] for k, label in keys]))
        out.append(derived)
    if any(r.memory_mb for r in all_results):
        out.append(table("Peak memory (VmHWM, MB, process and children)", ["", *names],
                         [[proc, *(by[n].memory_mb.get(proc, "-") for n in names)]
                          for proc in sorted({p for r in all_results for p in r.memory_mb})]))
    for r in all_results:
        steps = [("alone", r.alone), ("realistic", r.realistic),
                 *((f"sweep {level}", row) for level, row in r.sweep.items())]
        for mode, row in steps:
            if row and (row.get("error_kinds") or row.get("action_failed")
                        or row.get("diverged")):
                out.append(f"{r.system} {mode}: errors {row.get('error_kinds') or 0}, "
                           f"action-call failures (the guard's reply) "
                           f"{row.get('action_failed', 0)}, diverged {row.get('diverged', 0)}")
    out.append("every system ran alone first (its screenings recorded), then the load modes "
               "alternated between the running systems: " + ", ".join(names))
    return "\n".join(out)


def machine_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"load average {load} now")


# ---- the command -------------------------------------------------------------------------------


def named_pid(text: str) -> tuple[str, int]:
    name, _, pid = text.partition("=")
    if not name or not pid.isdigit():
        raise argparse.ArgumentTypeError(f"NAME=PID, not {text!r}")
    return name, int(pid)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="alone,sweep,realistic",
                        help="comma-separated: alone, sweep, realistic")
    parser.add_argument("--stock", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure stock Rasa (bench/stock.py)")
    parser.add_argument("--stock-revision", default="HEAD",
                        help="the commit whose domain.yml and data/ stock is trained on (a "
                        "model for it may be cached; default HEAD)")
    parser.add_argument("--target", help="an already running deployment's base URL: load it "
                        "instead of starting this project")
    parser.add_argument("--token", default=os.environ.get("REST_CHANNEL_TOKEN"),
                        help="the target's REST channel token (default $REST_CHANNEL_TOKEN)")
    parser.add_argument("--pid", action="append", default=[], type=named_pid,
                        metavar="NAME=PID", help="with --target: a server process on this "
                        "machine whose peak memory to report (repeat: rasa-1=123 ...)")
    parser.add_argument("--model", type=Path, help="this project's model (default: models/'s "
                        "newest)")
    parser.add_argument("--patients-mix", default=",".join(MIX),
                        help="patient ids from tests/e2e/patients.yml")
    parser.add_argument("--alone-rounds", type=int, default=2,
                        help="times each patient of the mix plays alone")
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP)),
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--patients", type=int, default=100, help="realistic mode's patients")
    parser.add_argument("--pause", type=float, nargs=2, default=(1.0, 5.0),
                        metavar=("MIN", "MAX"), help="realistic mode's pause before each reply")
    parser.add_argument("--realistic-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--times", action=argparse.BooleanOptionalAction, default=True,
                        help="time this project's model load (and training, --train) first; "
                        "not with --target")
    parser.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                        help="with --times: also train this project from scratch (~80 s "
                        "quiet), in a temporary folder; models/ is not touched")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs (and stores) here "
                        "instead of a temporary folder")
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - {"alone", "sweep", "realistic"}
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    return args


async def main_async(args: argparse.Namespace) -> list[Results]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        base = Path(args.logs) if args.logs else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        timings = (await asyncio.to_thread(time_training, args, base)
                   if args.times and not args.target else [])
        for line in timings:
            print(line, file=sys.stderr)
        starts: list[Callable[[], System]] = []
        if args.target:
            target = System("target", args.target, args.token, dict(args.pid),
                            notes=[f"an already running deployment at {args.target}"])
            await asyncio.to_thread(wait_for_http, args.target.rstrip("/") + "/webhooks/rest/",
                                    30)
            starts.append(lambda: target)
        else:
            model = args.model or latest_model()
            (base / "project").mkdir()
            starts.append(lambda: start_project(base / "project", model))
        if args.stock:
            (base / "stock").mkdir()
            starts.append(lambda: start_stock(base / "stock", args.stock_revision))
        systems = await start_all(starts)
        try:
            results = await run_systems(systems, args)
        finally:
            for system in systems:
                await asyncio.to_thread(system.stop)
    if results:
        results[0].timings = timings
    return results


def run_settings() -> None:
    """This run's secrets, in the bench's own environment (the servers inherit it): a data key,
    so the bench reads the stores it checks outcomes in, and the action server's secret, so
    nothing is generated into the project's var/. The developer's .env is not read."""
    from bot.crypto import new_key

    os.environ["DOTENV_DISABLED"] = "1"
    os.environ["DATA_KEYS"] = new_key()
    os.environ["ACTION_SERVER_SECRET"] = secrets.token_urlsafe(32)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    run_settings()
    print(machine_line(), file=sys.stderr)
    results = asyncio.run(main_async(args))
    text = report(results, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2, default=str),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
