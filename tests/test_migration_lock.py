"""Migrations run once, under PostgreSQL's advisory lock, however many processes start at once.

Six processes (as a cluster's replicas, action servers, console and outbox worker would) call
``init_db`` on one fresh PostgreSQL database at the same moment: every one succeeds, exactly
one applies the migrations, and the schema ends at the head with one version row. Without the
lock they race to create the same tables and all but one fail (or several migrate).

Needs the PostgreSQL these machines run (127.0.0.1:5432, trust auth); ``POSTGRES_ADMIN_URL``
names another. The database is created for the test and dropped after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import schema
from bot.settings import PROJECT_ROOT

ADMIN_URL = os.environ.get(
    "POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
PROCESSES = 6

# Each process waits at a barrier (a file appearing) so that all call init_db together.
CHILD = """
import json, os, sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
from bot.db import get_engine, migrate
from bot.rotation import check_keys
engine = get_engine(sys.argv[1])
applied = migrate(engine)
check_keys(engine)
print(json.dumps({"applied": applied}))
"""


@pytest.fixture()
def fresh_postgres() -> Iterator[str]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001 - no server here: say so
        admin.dispose()
        pytest.skip(f"no PostgreSQL at {make_url(ADMIN_URL).host}: {type(error).__name__}")
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_processes_starting_together_migrate_once(fresh_postgres: str, tmp_path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "DOTENV_DISABLED": "1", "DATA_KEY_FILE": str(tmp_path / "data-key"),
           "PYTHONPATH": str(PROJECT_ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, fresh_postgres, str(go)], cwd=PROJECT_ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    failures = [err[-2000:] for child, (_out, err) in zip(children, results, strict=True)
                if child.returncode != 0]
    assert not failures, failures
    applied = [json.loads(out.strip().splitlines()[-1])["applied"] for out, _err in results]
    assert applied.count(True) == 1, applied
    engine = create_engine(fresh_postgres, future=True)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v[0] for v in versions] == [schema.head()]
        assert schema.current(engine) == schema.head()
    finally:
        engine.dispose()
