"""The replicated deployment under load: two Rasa replicas and two action servers behind nginx,
on the real PostgreSQL (a database of this run's own, created and dropped here) and the real
Redis (a key prefix of this run's own, deleted afterwards), as ``make run-cluster`` starts them
(bot/deploy/cluster.py).

Fifty simulated patients (tests/e2e/patients.py) play whole screenings at once, and each
conversation's messages alternate between the two replicas: message n of a conversation goes
to replica (n + the patient's number) mod 2. Then:

- no turn is lost: every message got the bot's reply, and every screening ended where it ends
  (a knockout, or a lead with its contact details and consent);
- every conversation's events are in the PostgreSQL tracker store once and in order: its user
  events are exactly the messages sent, in the order sent, each once; each turn's events end
  with ``action_listen`` before the next message's; ids and timestamps rise together; no event
  is stored twice. A replica that worked from a stale copy of a conversation (a tracker cache
  not shared between replicas, a lock store that does not lock across them) breaks these;
- every lead lands exactly once: one screening per conversation, one lead for each patient who
  ended as a lead, none for the others; and each outcome is at least as careful as the
  coordinator's (no false knockout).

Smaller checks use the same cluster: messages of one conversation sent to both replicas at the
same moment are handled one after the other (the Redis lock store); nginx spreads the REST
channel's requests over both replicas; a chat session issued through nginx is carried on by
either replica (the session key shared through Redis).

The figures (turns, leads, time, messages per second, the CPU the replicas used, the tracker
store's bytes and events per screening) are printed and written to results/cluster_load.txt;
docs/scaling.md quotes them.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot import crypto
from bot.deploy.cluster import Cluster, ClusterSettings, build_cluster, cluster_environment
from bot.deploy.credentials import write_credentials
from bot.deploy.services import free_port, latest_model
from bot.engine import Status
from bot.models import Lead, Screening
from bot.settings import PROJECT_ROOT
from bot.transcripts import events, open_event, stored_sender_ids
from tests.e2e.patients import (
    Patient,
    Played,
    at_least_as_careful,
    false_knockout,
    load_patients,
    outcome_in_store,
    play,
)

pytestmark = pytest.mark.e2e

ADMIN_URL = os.environ.get(
    "POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCREENINGS = int(os.environ.get("CLUSTER_SCREENINGS", "50"))
REST_TOKEN = "cluster-rest-channel-token-0123456789abcdef"
RESULTS_FILE = PROJECT_ROOT / "results" / "cluster_load.txt"


@dataclass
class Running:
    cluster: Cluster
    database_url: str
    tracker_url: str
    prefix: str
    log_dir: Path
    start_seconds: float
    sent: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # sender: (replica, text)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, base: str, sender: str, message: str, timeout: float = 120) -> list[dict]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        request = urllib.request.Request(
            f"{base}/webhooks/rest/webhook", data=body,
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {REST_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    import redis

    base = tmp_path_factory.mktemp("cluster")
    run = uuid.uuid4().hex[:12]
    name, prefix = f"cluster_{run}", f"test{run}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    tracker_url = make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    red = redis.Redis.from_url(REDIS_URL)
    overrides = {
        "DOTENV_DISABLED": "1",
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": tracker_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "RASA_REPLICAS": "2",
        "RASA_PORT": str(free_port()),
        "ACTION_PORT": str(free_port()),
        "DATA_KEYS": crypto.new_key(),
        "ACTION_SERVER_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
        "SOCKETIO_SESSION_KEY": "",  # the replicas share one through Redis
        "OUTBOX_DIR": str(base / "outbox"),
        "SPOOL_DIR": str(base / "spool"),
        "SMTP_HOST": "",
        "REST_CHANNEL": "token",
        "REST_CHANNEL_TOKEN": REST_TOKEN,
        # Every simulated patient writes from 127.0.0.1; each sender keeps its own limit (in
        # Redis, shared by the replicas).
        "RATE_LIMIT_PER_ADDRESS": "1000000",
    }
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)  # this process reads the stores with the same keys
    crypto.forget_keys()
    cluster: Cluster | None = None
    try:
        settings = ClusterSettings.from_env(os.environ)
        from bot.db import init_db

        init_db(database_url)
        credentials = base / "credentials.yml"
        write_credentials(credentials, overrides)
        cluster = build_cluster(
            settings, cluster_environment(settings, overrides),
            model=latest_model(PROJECT_ROOT / "models"), log_dir=base / "log",
            credentials=credentials, run_dir=base / "run",
        )
        start = time.monotonic()
        cluster.start(timeout=300)
        yield Running(cluster, database_url, tracker_url, prefix, base / "log",
                      time.monotonic() - start)
    finally:
        if cluster is not None:
            cluster.stop()
        from bot.db import dispose_all
        from bot.transcripts import dispose_engines

        dispose_all()
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        for key in red.scan_iter(f"{prefix}:*"):
            red.delete(key)
        red.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        crypto.forget_keys()


def chosen_patients(count: int) -> list[Patient]:
    """``count`` patients: every knockout (30), then leads, tappers before typists (the
    shortest screenings first, to keep the run short), knockouts and leads interleaved."""
    patients = load_patients()
    knockouts = [p for p in patients if p.expected.outcome == "not_eligible"]
    leads = sorted((p for p in patients if p.expected.outcome == "lead"),
                   key=lambda p: p.types_everything)
    chosen = knockouts[:count] + leads[:max(0, count - len(knockouts))]
    chosen_leads = [p for p in chosen if p.expected.outcome == "lead"]
    chosen_knockouts = [p for p in chosen if p.expected.outcome != "lead"]
    return [p for pair in itertools.zip_longest(chosen_leads, chosen_knockouts)
            for p in pair if p]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_events(running: Running, sender: str) -> list[tuple[int, str, float, dict]]:
    engine = create_engine(running.tracker_url, future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data)
                .where(events.c.sender_id.in_(stored_sender_ids(sender)))
                .order_by(events.c.id)
            ).all()
    finally:
        engine.dispose()
    return [(row.id, row.type_name, row.timestamp, open_event(row.data)) for row in rows]


def check_events(sender: str, rows: list[tuple[int, str, float, dict]],
                 sent: list[str]) -> list[str]:
    """What is wrong with one conversation's stored events (nothing: an empty list)."""
    problems = []
    users = [data.get("text") for _id, kind, _at, data in rows if kind == "user"]
    if users != sent:
        problems.append(f"{sender}: {len(users)} user events for {len(sent)} messages, or "
                        "out of order")
    stamps = [at for _id, _kind, at, _data in rows]
    if stamps != sorted(stamps):
        problems.append(f"{sender}: events stored out of time order")
    seen = Counter(json.dumps(data, sort_keys=True) for _id, _kind, _at, data in rows)
    twice = [k for k, n in seen.items() if n > 1]
    if twice:
        problems.append(f"{sender}: {len(twice)} events stored twice")
    kinds = [(kind, data.get("name")) for _id, kind, _at, data in rows]
    for n, (kind, _name) in enumerate(kinds):
        if kind != "user":
            continue
        following = next((k for k in kinds[n + 1:] if k[0] == "user"), None)
        turn = kinds[n + 1:kinds.index(following, n + 1)] if following else kinds[n + 1:]
        if ("action", "action_listen") not in turn:
            problems.append(f"{sender}: a turn that did not finish before the next began")
            break
    return problems


def test_fifty_screenings_alternating_between_replicas(running: Running) -> None:
    cluster = running.cluster
    replicas = cluster.replica_urls
    patients = chosen_patients(SCREENINGS)
    assert len(patients) == SCREENINGS
    offsets = {p.sender: n for n, p in enumerate(patients)}
    failed_posts: list[str] = []

    def talk(sender: str, message: str) -> list[dict]:
        with running.lock:
            turns = running.sent.setdefault(sender, [])
            replica = (len(turns) + offsets[sender]) % len(replicas)
            turns.append((replica, message))
        try:
            return running.post(replicas[replica], sender, message)
        except OSError as error:
            failed_posts.append(f"{sender}: {type(error).__name__}")
            raise

    watched = {name: proc.pid for name, proc in cluster.processes.items()
               if name.startswith(("rasa-", "actions-", "nginx"))}
    cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    started = time.monotonic()
    with ThreadPoolExecutor(len(patients)) as pool:
        played: list[Played] = list(pool.map(lambda p: play(p, talk), patients))
    elapsed = time.monotonic() - started
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
    assert {n: p.pid for n, p in cluster.processes.items() if n in watched} == watched, (
        "a process of the cluster died and was restarted during the load")

    # No turn lost: every message answered, every screening played to its end.
    assert not failed_posts, failed_posts[:5]
    errors = [f"{p.patient.id}: {p.error}" for p in played if p.error]
    assert not errors, errors
    silent = [f"{p.patient.id}: {t.sent!r}" for p in played for t in p.turns if not t.replies]
    assert not silent, silent[:5]
    messages = sum(len(turns) for turns in running.sent.values())
    for sender, turns in running.sent.items():
        assert {replica for replica, _ in turns} == set(range(len(replicas))), sender

    # Events once and in order.
    problems: list[str] = []
    event_counts: dict[str, int] = {}
    for sender, turns in running.sent.items():
        rows = stored_events(running, sender)
        event_counts[sender] = len(rows)
        problems += check_events(sender, rows, [message for _, message in turns])
    assert not problems, problems[:10]

    # Leads exactly once; outcomes no less careful than the coordinator's.
    from bot.db import session_scope

    outcomes = {p.patient.id: outcome_in_store(running.database_url, p.patient.sender)
                for p in played}
    with session_scope(running.database_url) as session:
        screenings = Counter(session.execute(select(Screening.conversation_id)).scalars())
        leads = session.execute(
            select(Screening.conversation_id).join(Lead, Lead.screening_id == Screening.id)
        ).scalars().all()
    assert all(screenings[p.sender] == 1 for p in patients), screenings
    # A lead for each screening that ended "may qualify" (every such patient agrees to be
    # contacted), and for no other; the leads table allows one per screening, so a second
    # submission would have failed a turn above.
    may_qualify = {Status.MAY_QUALIFY.value, Status.MAY_QUALIFY_CONFIRM.value}
    expected_leads = [p.sender for p in patients
                      if outcomes[p.id] is not None and outcomes[p.id].status in may_qualify]
    assert Counter(leads) == Counter(expected_leads)
    careless = [p.id for p in patients if not at_least_as_careful(p.expected, outcomes[p.id])]
    knocked_out = [p.id for p in patients if false_knockout(p.expected, outcomes[p.id])]
    assert not knocked_out and not careless, (knocked_out, careless)

    # The tracker store's size per screening, on PostgreSQL.
    engine = create_engine(running.tracker_url, future=True)
    try:
        with engine.connect() as connection:
            table_bytes = connection.execute(
                text("SELECT pg_total_relation_size('events')")).scalar_one()
            data_bytes = connection.execute(
                text("SELECT sum(pg_column_size(events.*)) FROM events")).scalar_one()
            total_events = connection.execute(select(func.count()).select_from(events)
                                              ).scalar_one()
    finally:
        engine.dispose()

    # Old events leave the tracker store with the retention purge (``python -m bot purge``,
    # docs/scaling.md), here on the cluster's stores as if run two days from now with a one-day
    # retention, so that every knockout is old. Leads' conversations keep every event; the
    # knockouts' go.
    from bot.erasure import purge

    purge_started = time.monotonic()
    purged = purge(1, now=datetime.now(timezone.utc) + timedelta(days=2))
    purge_seconds = time.monotonic() - purge_started
    assert purged.counts.screenings == len(patients) - len(expected_leads)
    for patient in patients:
        rows = stored_events(running, patient.sender)
        if patient.sender in expected_leads:
            assert len(rows) == event_counts[patient.sender], patient.id
        else:
            assert rows == [], patient.id
    engine = create_engine(running.tracker_url, future=True)
    try:
        with engine.connect() as connection:
            bytes_after = connection.execute(
                text("SELECT pg_total_relation_size('events')")).scalar_one()
            events_after = connection.execute(select(func.count()).select_from(events)
                                              ).scalar_one()
    finally:
        engine.dispose()

    rasa_cpu = sum(v for k, v in cpu.items() if k.startswith("rasa-"))
    actions_cpu = sum(v for k, v in cpu.items() if k.startswith("actions-"))
    summary = "\n".join([
        f"cluster load, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.1f}",
        f"screenings: {len(patients)} at once, messages alternating between "
        f"{len(replicas)} replicas",
        f"start of the cluster: {running.start_seconds:.0f} s",
        f"messages: {messages} in {elapsed:.1f} s = {messages / elapsed:.1f} messages/s",
        f"leads: {len(leads)} (each once); knockouts: {len(patients) - len(leads)}",
        f"CPU: Rasa replicas {rasa_cpu:.1f} s ({messages / max(rasa_cpu, 0.01):.1f} messages "
        f"per Rasa CPU-second), action servers {actions_cpu:.1f} s, nginx "
        f"{cpu.get('nginx', 0):.2f} s",
        f"tracker store: {total_events} events, {total_events / len(patients):.0f} per "
        f"screening; events table {table_bytes / len(patients) / 1024:.0f} KiB per screening "
        f"with its indexes ({data_bytes / len(patients) / 1024:.0f} KiB of rows)",
        f"retention purge of the knockouts: {purge_seconds:.1f} s; left {events_after} events of "
        f"{len(expected_leads)} leads, {bytes_after / 1024:.0f} KiB (from "
        f"{table_bytes / 1024:.0f} KiB)",
    ])
    print("\n" + summary)
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(summary + "\n", encoding="utf-8")


def test_one_conversations_messages_at_both_replicas_at_once_are_handled_in_turn(
    running: Running,
) -> None:
    """Six messages of one conversation, three to each replica at the same moment: the Redis
    lock store makes them one turn after another (with a lock per replica, both replicas
    would work on the same tracker at once and their events interleave or get lost)."""
    sender = f"lock-{uuid.uuid4().hex[:8]}"
    replicas = running.cluster.replica_urls
    messages = [f"hi {n}" for n in range(6)]
    with ThreadPoolExecutor(len(messages)) as pool:
        replies = list(pool.map(
            lambda n: running.post(replicas[n % 2], sender, messages[n]), range(len(messages))))
    assert all(replies), "a message got no reply"
    rows = stored_events(running, sender)
    users = [data.get("text") for _id, kind, _at, data in rows if kind == "user"]
    assert sorted(users) == sorted(messages)  # each once, in whatever order the lock gave
    assert not check_events(sender, rows, users)


def test_nginx_spreads_the_rest_channel_over_both_replicas(running: Running) -> None:
    sender = f"nginx-{uuid.uuid4().hex[:8]}"
    for message in ("hi", "what is this study about", "how long does it take", "hello"):
        assert running.post(running.cluster.public_url, sender, message)
    log = (running.log_dir / "nginx-access.log").read_text(encoding="utf-8")
    used = {line.split()[4] for line in log.splitlines()
            if " /webhooks/rest/webhook " in line}
    assert used == {url.removeprefix("http://") for url in running.cluster.replica_urls}
    assert sender not in log and "study" not in log  # the path only, never a patient's words


def test_a_chat_session_from_one_replica_is_taken_by_the_other(running: Running) -> None:
    """The study page's socket.io through nginx (sticky to one replica), and the session it was
    issued presented to each replica directly: both carry it on, as they share the session key
    (from Redis: SOCKETIO_SESSION_KEY is empty here). nginx passes the WebSocket upgrade too.

    The client polls: python-engineio's WebSocket transport needs a newer aiohttp than Rasa's
    pin; the upgrade is checked at the HTTP level instead (101 Switching Protocols)."""
    import asyncio
    import base64
    import socket

    import socketio

    async def client(url: str) -> tuple[socketio.AsyncClient, asyncio.Queue, asyncio.Queue]:
        sio = socketio.AsyncClient(reconnection=False)
        confirmed: asyncio.Queue = asyncio.Queue()
        uttered: asyncio.Queue = asyncio.Queue()
        sio.on("session_confirm", confirmed.put)
        sio.on("bot_uttered", uttered.put)
        await sio.connect(url, socketio_path="/socket.io", transports=["polling"])
        return sio, confirmed, uttered

    async def hang_up(sio: socketio.AsyncClient) -> None:
        # Engine.IO's close goes to the server as with disconnect(); only the wait for the
        # client's own long poll to end (the server's ping, 25-30 s measured) is left out.
        await sio.eio.disconnect(abort=True)

    async def scenario() -> tuple[dict, dict, list[str]]:
        sio, confirmed, uttered = await client(running.cluster.public_url)
        await sio.emit("session_request", {"session_id": None})
        session = await asyncio.wait_for(confirmed.get(), 20)
        await sio.emit("user_uttered", {"message": "hi", "session_id": session["session_id"]})
        reply = await asyncio.wait_for(uttered.get(), 60)
        await hang_up(sio)
        carried = []
        for url in running.cluster.replica_urls:
            again, confirmed, _ = await client(url)
            await again.emit("session_request", session)
            carried.append((await asyncio.wait_for(confirmed.get(), 20))["session_id"])
            await hang_up(again)
        return session, reply, carried

    session, reply, carried = asyncio.run(scenario())
    assert reply.get("text")
    assert carried == [session["session_id"]] * 2

    port = running.cluster.rasa_port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        key = base64.b64encode(os.urandom(16)).decode()
        connection.sendall((
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode())
        status = connection.recv(4096).split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 101"), status
