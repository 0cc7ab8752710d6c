"""The replicated deployment on one host: ``make run-cluster`` (``python -m bot run-cluster``).

What runs (docs/scaling.md has the why and the figures):

- ``RASA_REPLICAS`` Rasa servers (2) and as many action servers, each on a free loopback port;
- nginx (Debian's, scripts/install-nginx) in front of both: on ``RASA_PORT`` for the patients'
  side (REST and the messaging webhooks round robin, socket.io sticky by client address) and on
  ``ACTION_PORT`` for Rasa's calls to the action servers (least busy first);
- PostgreSQL for the tracker store and the screening store (``TRACKER_STORE_URL``,
  ``DATABASE_URL``), Redis for Rasa's lock store and the channels' shared state (``REDIS_URL``,
  ``REDIS_KEY_PREFIX``);
- the study page, the staff console and the outbox worker, once each.

Every replica calls the action servers through nginx rather than a partner of its own: the
action servers are stateless, so any can serve any call; a replica whose partner died would
otherwise fail every turn until the restart, and a busy replica's partner would queue while the
other idled. The hop costs one loopback proxy pass (well under a millisecond).

Before anything starts: the migrations (once, under PostgreSQL's advisory lock: bot.db), the
data key, the tracker store's table (``channels.tracker_setup``, under a lock of its own), the
action server's secret. Rasa reads a generated endpoints file, endpoints.yml plus the Redis
lock store, in ``var/cluster/`` (0700) beside nginx's configuration. :class:`Cluster` keeps
every child running as ``bot run`` does (the supervisor of :class:`Services`).

This module does not import Rasa (``bot`` never does): Rasa runs in the children.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from sqlalchemy.engine import make_url

from bot.deploy.credentials import site_origins
from bot.deploy.services import Services, free_port, wait_for_http
from bot.files import open_private, private_dir
from bot.logs import LOGGING_CONFIG
from bot.settings import PROJECT_ROOT

NGINX_TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "cluster.conf.template"
RUN_DIR = PROJECT_ROOT / "var" / "cluster"
DEFAULT_REPLICAS = 2
REDIS_PASSWORD_ENV = "LOCK_STORE_REDIS_PASSWORD"  # endpoints.yml reads it, never the file


class ClusterConfigError(RuntimeError):
    """A setting the cluster cannot run with; the message says what to set."""


@dataclass(frozen=True)
class RedisLocation:
    host: str
    port: int
    db: int
    password: str | None
    ssl: bool

    @classmethod
    def parse(cls, url: str) -> RedisLocation:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ClusterConfigError(
                f"REDIS_URL must be redis://host:port/db (or rediss://), not {parts.scheme!r}"
            )
        path = parts.path.strip("/") or "0"
        if not path.isdigit():
            raise ClusterConfigError("REDIS_URL's path is the Redis database number, e.g. /0")
        return cls(parts.hostname, parts.port or 6379, int(path),
                   unquote(parts.password) if parts.password else None, parts.scheme == "rediss")


@dataclass(frozen=True)
class ClusterSettings:
    replicas: int
    database_url: str
    tracker_store_url: str
    redis_url: str
    redis: RedisLocation
    key_prefix: str
    public_port: int
    action_port: int
    listen: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClusterSettings:
        problems = []
        database = (env.get("DATABASE_URL") or "").strip()
        tracker = (env.get("TRACKER_STORE_URL") or "").strip()
        redis_url = (env.get("REDIS_URL") or "").strip()
        for name, value in (("DATABASE_URL", database), ("TRACKER_STORE_URL", tracker)):
            if not value or make_url(value).get_backend_name() != "postgresql":
                problems.append(f"{name} must be a PostgreSQL URL (every replica shares it)")
        if not redis_url:
            problems.append("REDIS_URL must name the Redis the replicas share")
        if problems:
            raise ClusterConfigError(
                "the cluster needs PostgreSQL and Redis: " + "; ".join(problems)
                + ". The lines to set are in .env.example, '--- cluster ---'."
            )
        prefix = (env.get("REDIS_KEY_PREFIX") or "").strip() or "prescreen"
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", prefix):
            raise ClusterConfigError("REDIS_KEY_PREFIX must be 1 to 64 letters or digits")
        replicas = (env.get("RASA_REPLICAS") or "").strip() or str(DEFAULT_REPLICAS)
        if not replicas.isdigit() or not 1 <= int(replicas) <= 16:
            raise ClusterConfigError("RASA_REPLICAS must be a whole number from 1 to 16")
        return cls(
            replicas=int(replicas),
            database_url=database,
            tracker_store_url=tracker,
            redis_url=redis_url,
            redis=RedisLocation.parse(redis_url),
            key_prefix=prefix,
            public_port=int(env.get("RASA_PORT") or 5005),
            action_port=int(env.get("ACTION_PORT") or 5055),
            listen=(env.get("CLUSTER_LISTEN") or "").strip() or "127.0.0.1",
        )


def lock_store(settings: ClusterSettings) -> dict[str, Any]:
    """The Redis lock store (Rasa 3.6's ``RedisLockStore`` with atomic lock changes,
    :mod:`channels.lock_store`): every replica takes a conversation's lock there before it
    handles one of its messages."""
    redis = settings.redis
    store: dict[str, Any] = {
        "type": "channels.lock_store.AtomicRedisLockStore",
        "url": redis.host,
        "port": redis.port,
        "db": redis.db,
        "key_prefix": settings.key_prefix,
    }
    if redis.password:
        store["password"] = "${" + REDIS_PASSWORD_ENV + "}"
    if redis.ssl:
        store["use_ssl"] = True
    return store


def write_endpoints(path: Path, settings: ClusterSettings,
                    base: Path = PROJECT_ROOT / "endpoints.yml") -> Path:
    """endpoints.yml (its ``${...}`` left for Rasa to fill from the environment) plus the lock
    store, written 0600 to ``path``."""
    endpoints = yaml.safe_load(base.read_text(encoding="utf-8")) or {}
    endpoints["lock_store"] = lock_store(settings)
    private_dir(path.parent)
    with open_private(path, "w") as out:
        out.write("# Written by bot/deploy/cluster.py at every start: endpoints.yml and the "
                  "Redis lock store.\n")
        yaml.safe_dump(endpoints, out, sort_keys=False)
    return path


def nginx_config(
    rasa_ports: list[int],
    action_ports: list[int],
    public_port: int,
    action_port: int,
    run_dir: Path,
    log_dir: Path,
    listen: str = "127.0.0.1",
    template: Path = NGINX_TEMPLATE,
) -> str:
    """deploy/nginx/cluster.conf.template with this start's ports and folders."""
    values = {
        "workers": "1",
        "run_dir": str(run_dir),
        "log_dir": str(log_dir),
        # As root, the workers drop to nobody: they need no file (see the template's buffers).
        "user": "user nobody nogroup;" if os.geteuid() == 0 else "",
        "listen": listen,
        "public_port": str(public_port),
        "action_port": str(action_port),
        "rasa_servers": "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in rasa_ports
        ),
        "action_servers": "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in action_ports
        ),
    }
    text = template.read_text(encoding="utf-8")
    missing = set(re.findall(r"\{\{(\w+)\}\}", text)) - set(values)
    if missing:
        raise ValueError(f"the nginx template names unknown values: {sorted(missing)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"):
        if Path(candidate).exists():
            return candidate
    raise ClusterConfigError("nginx is not installed: run scripts/install-nginx")


@dataclass
class Cluster(Services):
    """The cluster's processes: ``rasa-1..N``, ``actions-1..N``, ``nginx``, the web processes
    and the outbox worker. ``rasa_port`` and ``action_port`` are nginx's (what the site and
    Rasa use); ``rasa_ports`` and ``action_ports`` the replicas'."""

    rasa_ports: list[int] = field(default_factory=list)
    action_ports: list[int] = field(default_factory=list)
    endpoints: Path = RUN_DIR / "endpoints.yml"
    run_dir: Path = RUN_DIR
    listen: str = "127.0.0.1"

    @property
    def replica_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.rasa_ports]

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self, timeout: float = 300) -> Cluster:
        private_dir(self.run_dir)
        conf = self.run_dir / "nginx.conf"
        with open_private(conf, "w") as out:
            out.write(nginx_config(self.rasa_ports, self.action_ports, self.rasa_port,
                                   self.action_port, self.run_dir, self.log_dir, self.listen))
        nginx = nginx_binary()
        private_dir(self.log_dir)
        check = subprocess.run([nginx, "-t", "-q", "-e", str(self.log_dir / "nginx-error.log"),
                                "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise ClusterConfigError(f"nginx refused its configuration: {check.stderr[-500:]}")
        for n, port in enumerate(self.action_ports, 1):
            self._spawn(f"actions-{n}", [
                sys.executable, "-m", "actions.server", "--actions", "actions",
                "--port", str(port), "--logging-config-file", str(LOGGING_CONFIG),
            ])
            self.health[f"actions-{n}"] = f"http://127.0.0.1:{port}/health"
        # The tracker store's table, once, before the replicas race to make it (while the
        # action servers start).
        setup = subprocess.run([sys.executable, "-m", "channels.tracker_setup"],
                               cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True)
        if setup.returncode != 0:
            self.stop()
            raise RuntimeError(f"the tracker store could not be prepared: {setup.stderr[-800:]}")
        rasa = [sys.executable, "-m", "channels.action_calls"]
        for n, port in enumerate(self.rasa_ports, 1):
            self._spawn(f"rasa-{n}", [
                *rasa, "run",
                "--model", str(self.model),
                "--endpoints", str(self.endpoints),
                "--credentials", str(self.credentials),
                "--port", str(port),
                "--interface", "127.0.0.1",
                "--logging-config-file", str(LOGGING_CONFIG),
                "--cors", *site_origins(self.env),
            ])
            self.health[f"rasa-{n}"] = f"http://127.0.0.1:{port}/"
        self._spawn("nginx", [nginx, "-e", str(self.log_dir / "nginx-error.log"),
                              "-c", str(conf)])
        self.health["nginx"] = f"http://127.0.0.1:{self.rasa_port}/nginx-health"
        for w in self.web:
            self._spawn(w.name, w.args)
        self.health.update({w.name: w.health_url for w in self.web})
        if self.outbox_worker:
            from bot.deploy.services import outbox_worker_command

            self._spawn("outbox", outbox_worker_command())
        try:
            for name, url in self.health.items():
                wait_for_http(url, timeout, self.processes[name])
            for url in self.replica_urls:
                wait_for_http(f"{url}/webhooks/rest/", timeout, None)
        except Exception:
            self.stop()
            raise
        return self


def cluster_environment(settings: ClusterSettings, overrides: Mapping[str, str] | None = None
                        ) -> dict[str, str]:
    """Every child's environment: ``bot run``'s (tracker store, action endpoint through nginx,
    the action server's secret), with the cluster's settings."""
    from bot.deploy.services import rasa_environment

    env = rasa_environment(settings.public_port, settings.action_port, overrides)
    env["DATABASE_URL"] = settings.database_url
    env["REDIS_URL"] = settings.redis_url
    env["REDIS_KEY_PREFIX"] = settings.key_prefix
    if settings.redis.password:
        env[REDIS_PASSWORD_ENV] = settings.redis.password
    # Rasa is behind nginx: the client's address is the one nginx forwards (rate limits).
    env.setdefault("SANIC_PROXIES_COUNT", "1")
    return env


def build_cluster(
    settings: ClusterSettings,
    env: dict[str, str],
    model: Path,
    log_dir: Path,
    credentials: Path,
    run_dir: Path = RUN_DIR,
    web: list | None = None,
    outbox_worker: bool = True,
) -> Cluster:
    """A :class:`Cluster` on free replica ports (not started)."""
    private_dir(run_dir)
    ports: list[int] = []
    while len(ports) < 2 * settings.replicas:
        port = free_port()
        if port not in ports and port not in (settings.public_port, settings.action_port):
            ports.append(port)
    return Cluster(
        rasa_port=settings.public_port,
        action_port=settings.action_port,
        model=model,
        env=env,
        log_dir=log_dir,
        credentials=credentials,
        web=list(web or []),
        outbox_worker=outbox_worker,
        rasa_ports=ports[:settings.replicas],
        action_ports=ports[settings.replicas:],
        endpoints=write_endpoints(run_dir / "endpoints.yml", settings),
        run_dir=run_dir,
        listen=settings.listen,
    )
