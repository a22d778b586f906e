"""A lock file naming its holder (host, pid, since), created atomically: the one helper both locks use.

The study lock (`study.run.lock`: one `regimes run` per study directory) and the shared dense run's
trainer lock (`trainables.run.dense_prefix`: one trial trains a seed's run) are the same thing:
a file created atomically (a hard link to its written record) holding its holder as JSON. A
holder on this host whose pid is gone has died and its lock may be taken over; a holder on another
host cannot be checked from here, so each user decides (the study lock reports it, the trainer
lock waits for it to go stale).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path


def this_process() -> dict:
    """Return the holder record of the calling process: {"host", "pid", "since"}."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def try_create(path: str | Path) -> bool:
    """Create lock `path` for this process and return True, or return False when it exists.

    The record is written and fsynced under a temporary name, then hard-linked to `path`, which
    fails when `path` exists: a crash or a full disk never leaves a lock without its record. A file
    system without hard links falls back to O_CREAT | O_EXCL (a lock left empty there reads as
    unreadable, which both locks treat as stale).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # one per caller
    try:
        with open(temporary, "w") as fh:
            json.dump(this_process(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here
            return _create_exclusive(path)
    finally:
        temporary.unlink(missing_ok=True)


def _create_exclusive(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        json.dump(this_process(), fh)
    return True


def read_holder(path: str | Path) -> dict | None:
    """Return the holder record in lock `path`, or None when it is absent, being written or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Return True when process `pid` exists on this host (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_died(holder: dict) -> bool:
    """Return True when `holder` ran on this host and its process is gone (its lock may be taken over)."""
    return holder.get("host") == socket.gethostname() and not alive(int(holder.get("pid", -1)))


def is_mine(holder: dict | None) -> bool:
    """Return True when `holder` is the calling process."""
    return holder is not None and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()


def release(path: str | Path) -> None:
    """Remove lock `path` if this process holds it."""
    if is_mine(read_holder(path)):
        Path(path).unlink(missing_ok=True)
