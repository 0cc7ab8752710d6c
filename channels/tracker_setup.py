"""``python -m channels.tracker_setup``: make the tracker store ready once, before the replicas.

Each Rasa replica opens the tracker store when it starts, and Rasa's ``SQLTrackerStore`` creates
its ``events`` table there if it is missing; two replicas starting together on a new database
race to create it, and the loser's store fails, which Rasa answers by falling back to an
in-memory store with a warning (conversations then vanish with the process). ``make
run-cluster`` (bot/deploy/cluster.py) runs this first, under a PostgreSQL advisory lock, so the
table exists, the plain events of an older store are sealed and DATA_KEYS is checked once; the
replicas then find everything in place. In Kubernetes it is the Rasa pods' init container
(deploy/helm/rasa-values.yml).

Reads the same variables endpoints.yml does (``TRACKER_DIALECT``, ``TRACKER_URL``,
``TRACKER_DB``, from ``TRACKER_STORE_URL`` by bot.deploy.services.tracker_store_env).
"""

from __future__ import annotations

import os
import sys

from sqlalchemy import create_engine

from bot.deploy.services import tracker_store_env
from bot.settings import load_settings

# Another advisory lock than the migrations' (bot.db.MIGRATION_LOCK_ID): "rasatrak".
TRACKER_LOCK_ID = int.from_bytes(b"rasatrak", "big") & 0x7FFF_FFFF_FFFF_FFFF


def prepare(dialect: str, url: str, db: str) -> None:
    """Open the encrypted tracker store once (creating and checking its table), under the lock
    on PostgreSQL."""
    from channels.tracker_store import EncryptedSQLTrackerStore

    if dialect != "postgresql":
        EncryptedSQLTrackerStore(dialect=dialect, host=url or None, db=db)
        return
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({TRACKER_LOCK_ID})")
            try:
                store = EncryptedSQLTrackerStore(dialect=dialect, host=url, db=db)
                store.engine.dispose()
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({TRACKER_LOCK_ID})")
                connection.rollback()
    finally:
        engine.dispose()


def main() -> int:
    load_settings()
    env = dict(os.environ)
    if not env.get("TRACKER_DIALECT"):
        env.update(tracker_store_env(env.get("TRACKER_STORE_URL")))
    prepare(env["TRACKER_DIALECT"], env.get("TRACKER_URL", ""), env.get("TRACKER_DB", ""))
    print("tracker store ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
