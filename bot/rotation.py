"""Key rotation: ``python -m bot rotate-keys`` re-encrypts every protected value under the newest
key in ``DATA_KEYS``, so the older keys can then be removed.

It covers the store (every column of type :mod:`bot.sealed` in the models), Rasa's tracker store
(the ``events`` table, see ``channels/tracker_store.py``) and the spool of leads kept while the
database was down (``bot/spool.py``). A value that no listed key decrypts stops the run before
anything is written (the store's rows are rewritten in one transaction, the tracker store's in
another), with a message naming the table and column, never the value.

Rows are rewritten compare-and-set (``UPDATE ... WHERE id = ? AND col = <what was read>``), so
a value a running service changed meanwhile is never overwritten with an older one; a final
check counts what is still not under the newest key (for instance rows written by a process
that was not restarted with the new key first), and the command fails if anything is.

``python -m bot new-data-key`` prints a fresh key.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot import crypto
from bot.cli import command
from bot.sealed import SealedId, SealedJSON, SealedText

BATCH = 500
RANDOMISED, DETERMINISTIC = "randomised", "deterministic"
# A randomised token kept in a JSON column as a JSON string (answers.value).
RANDOMISED_JSON = "randomised-json"

# Rasa's events table: the columns channels/tracker_store.py seals.
TRACKER_COLUMNS = {
    "sender_id": DETERMINISTIC,
    "data": RANDOMISED,
    "intent_name": RANDOMISED,
    "action_name": RANDOMISED,
}


class RotationError(RuntimeError):
    """A value could not be re-encrypted: nothing of that store was changed."""


@dataclass
class Counts:
    """What one store held: values rewritten, values already under the newest key."""

    rewritten: int = 0
    current: int = 0
    plaintext_sealed: int = 0
    changed_meanwhile: int = 0
    by_column: dict[str, int] = field(default_factory=dict)


def sealed_columns() -> dict[str, dict[str, str]]:
    """Every sealed column of the store's models: table -> column -> kind."""
    import bot.console.models  # noqa: F401 - every model registered in the metadata
    from bot.models import Base

    found: dict[str, dict[str, str]] = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            kind = None
            if isinstance(column.type, SealedId):
                kind = DETERMINISTIC
            elif isinstance(column.type, SealedJSON):
                kind = RANDOMISED_JSON
            elif isinstance(column.type, SealedText):
                kind = RANDOMISED
            if kind:
                found.setdefault(table.name, {})[column.name] = kind
    return found


def _table(name: str, columns: dict[str, str]) -> sa.TableClause:
    """The table with its sealed columns raw: text, or JSON for a token in a JSON column."""
    return sa.table(name, sa.column("id"), *(
        sa.column(c, sa.JSON if kind == RANDOMISED_JSON else sa.Text)
        for c, kind in columns.items()
    ))


def _is_plain_tracker_value(column: str, value: str) -> bool:
    """A value a plain SQLTrackerStore wrote (before the encrypted one was configured)."""
    if column == "sender_id":
        return not value.startswith(crypto.DETERMINISTIC_PREFIX)
    return not value.startswith("gAAAAA")  # every Fernet token starts so (version 0x80)


def _renewed(kind: str, value: str, plain_allowed: bool, column: str) -> str | None:
    """``value`` under the newest key, or None if it already is."""
    if plain_allowed and _is_plain_tracker_value(column, value):
        return (
            crypto.encrypt_deterministic(value) if kind == DETERMINISTIC
            else crypto.encrypt_text(value)
        )
    if kind == DETERMINISTIC:
        return None if crypto.is_newest_deterministic(value) else (
            crypto.reencrypt_deterministic(value)
        )
    return None if crypto.is_newest_text(value) else crypto.reencrypt_text(value)


def _batches(connection: Connection, table: sa.TableClause, where=None) -> Iterator[list]:  # noqa: ANN001
    last = None
    while True:
        query = sa.select(*table.c).order_by(table.c.id).limit(BATCH)
        if last is not None:
            query = query.where(table.c.id > last)
        if where is not None:
            query = query.where(where)
        rows = connection.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _reseal_table(
    connection: Connection, name: str, columns: dict[str, str], counts: Counts,
    plain_allowed: bool = False, where=None,  # noqa: ANN001
) -> None:
    table = _table(name, columns)
    for rows in _batches(connection, table, where):
        for row in rows:
            changes: dict[str, str] = {}
            for column, kind in columns.items():
                value = getattr(row, column)
                if value is None:
                    continue
                try:
                    renewed = _renewed(kind, value, plain_allowed, column)
                except crypto.UnreadableValue:
                    raise RotationError(
                        f"{name}.{column} (row id {row.id}) cannot be decrypted with any key in "
                        f"DATA_KEYS: put back the key it was encrypted with; nothing was changed"
                    ) from None
                if renewed is None:
                    counts.current += 1
                else:
                    changes[column] = renewed
                    if plain_allowed and _is_plain_tracker_value(column, value):
                        counts.plaintext_sealed += 1
            if not changes:
                continue
            update = sa.update(table).where(table.c.id == row.id).values(**changes)
            for column in changes:
                if columns[column] != RANDOMISED_JSON:  # PostgreSQL's json has no "="
                    update = update.where(table.c[column] == getattr(row, column))
            if connection.execute(update).rowcount == 1:
                counts.rewritten += len(changes)
                for column in changes:
                    key = f"{name}.{column}"
                    counts.by_column[key] = counts.by_column.get(key, 0) + 1
            else:
                counts.changed_meanwhile += 1


def rotate_store(engine: Engine) -> Counts:
    """Re-encrypt the store's sealed columns under the newest key, in one transaction."""
    counts = Counts()
    tables = set(sa.inspect(engine).get_table_names())
    with engine.begin() as connection:
        for name, columns in sealed_columns().items():
            if name in tables:
                _reseal_table(connection, name, columns, counts)
    return counts


def _tracker_has_events(engine: Engine) -> bool:
    return "events" in set(sa.inspect(engine).get_table_names())


def rotate_tracker(engine: Engine) -> Counts:
    """Re-encrypt the tracker store's events under the newest key (plain ones are sealed)."""
    counts = Counts()
    if not _tracker_has_events(engine):
        return counts
    with engine.begin() as connection:
        _reseal_table(connection, "events", TRACKER_COLUMNS, counts, plain_allowed=True)
    return counts


def seal_tracker_events(engine: Engine) -> int:
    """Encrypt the events a plain SQLTrackerStore left in plain text; returns how many rows.

    Called when the encrypted tracker store starts, so existing conversations carry on.
    """
    if not _tracker_has_events(engine):
        return 0
    events = sa.table(
        "events", sa.column("id"), *(sa.column(c, sa.Text) for c in TRACKER_COLUMNS)
    )
    plain = sa.or_(
        ~events.c.sender_id.like(f"{crypto.DETERMINISTIC_PREFIX}%"),
        ~events.c.data.like("gAAAAA%"),
        sa.and_(events.c.intent_name.is_not(None), ~events.c.intent_name.like("gAAAAA%")),
        sa.and_(events.c.action_name.is_not(None), ~events.c.action_name.like("gAAAAA%")),
    )
    counts = Counts()
    with engine.begin() as connection:
        if connection.execute(sa.select(sa.func.count()).where(plain)).scalar_one() == 0:
            return 0
        # Only the plain values are rewritten: a sealed one is left under whatever key it has.
        for rows in _batches(connection, events, plain):
            for row in rows:
                changes = {}
                for column, kind in TRACKER_COLUMNS.items():
                    value = getattr(row, column)
                    if value is not None and _is_plain_tracker_value(column, value):
                        changes[column] = (
                            crypto.encrypt_deterministic(value) if kind == DETERMINISTIC
                            else crypto.encrypt_text(value)
                        )
                if changes:
                    connection.execute(
                        sa.update(events).where(events.c.id == row.id).values(**changes)
                    )
                    counts.rewritten += 1
    return counts.rewritten


def not_under_newest_key(engine: Engine, columns: dict[str, dict[str, str]]) -> int:
    """How many values of these tables are not under the newest key (or not decryptable)."""
    tables = set(sa.inspect(engine).get_table_names())
    left = 0
    with engine.connect() as connection:
        for name, cols in columns.items():
            if name not in tables:
                continue
            table = _table(name, cols)
            for rows in _batches(connection, table):
                for row in rows:
                    for column, kind in cols.items():
                        value = getattr(row, column)
                        if value is None:
                            continue
                        newest = (
                            crypto.is_newest_deterministic(value) if kind == DETERMINISTIC
                            else crypto.is_newest_text(value)
                        )
                        left += not newest
    return left


def check_keys(engine: Engine, columns: dict[str, dict[str, str]] | None = None) -> None:
    """Fail at start-up, clearly, when DATA_KEYS cannot read what is stored.

    Reads the oldest and the newest value of each sealed column (the oldest is the one most
    likely under a removed key); raises :class:`crypto.UnreadableValue` naming the column.
    Without this, a removed key would show as conversations that seem new (their id under the
    remaining keys matches nothing) rather than as an error.
    """
    columns = sealed_columns() if columns is None else columns
    tables = set(sa.inspect(engine).get_table_names())
    with engine.connect() as connection:
        for name, cols in columns.items():
            if name not in tables:
                continue
            table = _table(name, cols)
            for column, kind in cols.items():
                present = table.c[column].is_not(None)
                for order in (table.c.id.asc(), table.c.id.desc()):
                    value = connection.execute(
                        sa.select(table.c[column]).where(present).order_by(order).limit(1)
                    ).scalar()
                    if value is None:
                        break
                    if name == "events" and _is_plain_tracker_value(column, value):
                        continue  # a plain event, sealed when the tracker store starts
                    readable = (
                        crypto.is_encrypted_deterministic(value) if kind == DETERMINISTIC
                        else crypto.is_encrypted_text(value)
                    )
                    if not readable:
                        raise crypto.UnreadableValue(f"{name}.{column}")


def spool_files() -> list[Path]:
    """Every file of the spool (items waiting, and items set aside for a person)."""
    from bot.settings import PROJECT_ROOT, load_settings

    load_settings()
    base = Path(os.environ.get("SPOOL_DIR") or PROJECT_ROOT / "var" / "spool")
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("*/*") if p.suffix in (".item", ".rejected"))


def rotate_spool() -> Counts:
    """Rewrite each spooled item under the newest key, holding its lock as the replayer does."""
    from bot.files import FILE_MODE

    counts = Counts()
    for path in spool_files():
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                counts.changed_meanwhile += 1  # being replayed right now: stored, then deleted
                continue
            with os.fdopen(os.dup(fd), "rb") as handle:
                token = handle.read().decode("ascii").strip()
            if crypto.is_newest_text(token):
                counts.current += 1
                continue
            try:
                renewed = crypto.reencrypt_text(token)
            except crypto.UnreadableValue:
                raise RotationError(
                    f"spool file {path.name} cannot be decrypted with any key in DATA_KEYS"
                ) from None
            temporary = path.with_name(f".{path.name}.rotate.tmp")
            out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                os.write(out, renewed.encode("ascii"))
                os.fsync(out)
            finally:
                os.close(out)
            if not path.exists():  # replayed and deleted between our open and now
                temporary.unlink()
                continue
            os.replace(temporary, path)
            counts.rewritten += 1
        finally:
            os.close(fd)
    return counts


def _report(name: str, counts: Counts) -> str:
    extra = f", {counts.plaintext_sealed} plain values encrypted" if counts.plaintext_sealed else ""
    return (f"{name}: {counts.rewritten} values re-encrypted, {counts.current} already under the "
            f"newest key{extra}")


def rotate_everything(store_url: str | None = None, tracker_url: str | None = None) -> list[str]:
    """Rotate the store, the tracker store and the spool; lines to print. Raises
    :class:`RotationError` when a value cannot be read, or when values are still not under the
    newest key at the end."""
    from bot import transcripts
    from bot.db import init_db

    lines = []
    keys = crypto.keyring()
    lines.append(f"{len(keys)} key(s) in {keys.source}; the first one is the newest")
    store = init_db(store_url)
    lines.append(_report("store", rotate_store(store)))
    left = not_under_newest_key(store, sealed_columns())

    tracker_url = tracker_url or transcripts.tracker_store_url()
    tracker = _writable_engine(tracker_url)
    try:
        lines.append(_report("tracker store", rotate_tracker(tracker)))
        left += not_under_newest_key(tracker, {"events": TRACKER_COLUMNS})
    finally:
        tracker.dispose()
    spool = rotate_spool()
    lines.append(_report("spool", spool))
    left += spool.changed_meanwhile
    if left:
        raise RotationError(
            f"{left} value(s) are still not under the newest key: a running service is writing "
            "with an older one. Restart every service with the new DATA_KEYS, then run "
            "`python -m bot rotate-keys` again."
        )
    lines.append("every value is under the newest key: the other keys can now be removed from "
                 "DATA_KEYS")
    return lines


def _writable_engine(url: str) -> Engine:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or not Path(parsed.database).exists():
            return sa.create_engine("sqlite://", future=True)  # no tracker store yet: nothing
        return sa.create_engine(url, future=True, connect_args={"timeout": 30})
    return sa.create_engine(url, future=True, hide_parameters=True)


@command
def _rotate_keys(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rotate-keys",
        help="re-encrypt every stored value under the newest key in DATA_KEYS",
        description="Put the new key first in DATA_KEYS, keep the old ones after it, restart the "
                    "services, run this, then remove the old keys.",
    )

    def run(_args: argparse.Namespace) -> int:
        try:
            for line in rotate_everything():
                print(line)
        except (RotationError, crypto.UnreadableValue, crypto.KeyConfigError) as exc:
            print(f"rotate-keys: {exc}", file=sys.stderr)
            return 1
        return 0

    p.set_defaults(handler=run)


@command
def _new_data_key(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-data-key", help="print a new key for DATA_KEYS")

    def run(_args: argparse.Namespace) -> int:
        print(crypto.new_key())
        return 0

    p.set_defaults(handler=run)
