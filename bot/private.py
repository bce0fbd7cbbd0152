"""Private state: the state folder only its owner may enter (0700), every file Herald writes there 0600, any umask."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import IO

log = logging.getLogger("herald")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OPEN_TO_OTHERS = 0o077  # group and other bits: the ledger holds addresses, the outbox live unsubscribe tokens


def tighten(path: Path) -> None:
    """Take the group's and others' bits off `path` (a folder or file an older Herald made under umask 022)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & _OPEN_TO_OTHERS:
            os.chmod(path, mode & ~_OPEN_TO_OTHERS)
    except FileNotFoundError:
        return
    except OSError as exc:
        # Not this user's folder, or a file system without modes: say so, but do not stop the run for it.
        log.warning("%s: cannot make it private to this user: %s", path, exc.strerror)


def folder(path: Path, top: Path | None = None) -> Path:
    """`path` as a folder, 0700, with every folder from `top` (the state folder) down to it likewise."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    chain = [path]
    if top is not None and top != path and top in path.parents:
        chain += [p for p in path.parents if p == top or top in p.parents]
    for each in chain:
        tighten(each)
    return path


def file(path: Path) -> Path:
    """`path` as a file, created empty when missing, 0600 (SQLite gives its -wal and -shm files the mode of the
    database file, so creating the database file first is what keeps them private)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(descriptor)
    tighten(path)
    return path


def open_lock(path: Path) -> IO[str]:
    """A lock file opened for reading and appending, 0600 (it names the process that holds it)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # one left by an older Herald keeps its mode otherwise
    return os.fdopen(descriptor, "a+", encoding="utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` whole, 0600: a temporary file beside it, then a rename (a reader never sees half of it)."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)  # a temporary file left by a killed run keeps its old mode otherwise
        handle.write(data)
    os.replace(temporary, path)
