"""Files only the service's user can read: the databases, key files, outbox and logs.

One place decides the modes (0600 files, 0700 directories), so every module that creates a file
that holds patients' data or a secret calls :func:`private_dir` / :func:`private_file` (or opens
it with :func:`open_private`), and the processes started by ``python -m bot run`` inherit the
:func:`restrict_umask` mask, which covers what Rasa and SQLite create themselves (the tracker
database and its ``-wal``/``-shm`` files, log files).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077

# SQLite's companions of a database file: they hold the same pages.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def restrict_umask() -> int:
    """Make files this process (and its children) create private; returns the previous mask."""
    return os.umask(UMASK)


def private_dir(path: Path | str) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700.

    A directory that is shared by design is left as it is: one with the sticky bit (``/tmp``),
    or one this user does not own (a database put straight into such a folder still has its
    own files made 0600).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    info = path.stat()
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.getuid():
        return path
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path | str) -> Path:
    """Make an existing file 0600 (a missing one is left missing)."""
    path = Path(path)
    try:
        if stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    return path


def open_private(path: Path | str, mode: str = "w", encoding: str | None = "utf-8"):  # noqa: ANN201
    """``open()`` for a new or existing file that is created 0600 whatever the umask."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_CREAT | (os.O_WRONLY if "r" not in mode and "+" not in mode else os.O_RDWR)
    if "a" in mode:
        flags |= os.O_APPEND
    elif "w" in mode:
        flags |= os.O_TRUNC
    if "x" in mode:
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    private_file(path)
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding=encoding)


def private_sqlite(database: Path | str) -> None:
    """A SQLite database file, its directory and its -wal/-shm companions: owner only."""
    database = Path(database)
    private_dir(database.parent)
    for suffix in ("", *SQLITE_SIDE_FILES):
        private_file(Path(f"{database}{suffix}"))


def private_tree(root: Path | str, skip: Iterable[str] = ()) -> None:
    """Every directory under ``root`` 0700 and every file 0600 (for ``var/`` at start-up)."""
    root = Path(root)
    if not root.exists():
        return
    private_dir(root)
    skipped = set(skip)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skipped]
        for name in dirnames:
            private_dir(Path(dirpath) / name)
        for name in filenames:
            full = Path(dirpath) / name
            if not full.is_symlink():
                private_file(full)


def generated_secret(path: Path | str, what: str, min_length: int = 32) -> str:
    """The secret kept in ``path``: 64 random hex digits, created 0600 on first use.

    For the secrets a site may leave empty in ``.env`` (the console's key, the action server's
    secret, the chat sessions' key): generated once, said once in the log (the path, never the
    value), and the same on every later start. A file others could read is made private again.
    """
    import logging
    import secrets

    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        value = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        logging.getLogger(__name__).warning("generated %s in %s (mode 0600)", what, path)
        return value
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, FILE_MODE)
        logging.getLogger(__name__).warning("%s was readable by others; its mode is now 0600",
                                            path)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < min_length:
        raise RuntimeError(f"{path} holds no usable {what}: delete it to generate a new one")
    return value
