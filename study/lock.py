"""One `regimes run` per study directory: an exclusive lock file naming its owner.

The lock is created atomically (O_CREAT | O_EXCL) and holds the owner's host, pid and start time.
A lock whose owner is on this host and no longer alive is stale and is taken over; a lock held by
another host cannot be checked from here, so it is reported with what to do. Cloud URIs are not
locked (no atomic create there); the message of `acquire` is the only guard for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "regimes.lock"


class StudyLocked(RuntimeError):
    """Another live `regimes run` holds the study; the message names it and what to do."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def acquire(study_dir: str | Path) -> Path:
    """Create the lock of `study_dir` for this process and return its path.

    Raises:
        StudyLocked: a live process (or one on another host) already runs this study.
    """
    path = Path(study_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if owner is not None and (owner.get("host") != me["host"] or _alive(int(owner.get("pid", -1)))):
                raise StudyLocked(
                    f"{study_dir} is being run by pid {owner.get('pid')} on {owner.get('host')} since "
                    f"{owner.get('since')}; wait for it (regimes status {study_dir}), or if that process is gone, "
                    f"delete {path}") from None
            path.unlink(missing_ok=True)  # stale: its owner died on this host, or the file is unreadable
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return path
    raise StudyLocked(f"{study_dir}: could not take the lock {path}; another run is starting at the same time")


def release(lock: Path) -> None:
    """Remove `lock` if this process still owns it."""
    owner = _read(lock)
    if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def held(study_dir: str | Path):
    """Context that holds the lock of `study_dir` for its duration."""
    lock = acquire(study_dir)
    try:
        yield lock
    finally:
        release(lock)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
