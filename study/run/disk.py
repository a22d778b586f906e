"""A study's disk: its free space, and a full disk said in one line naming it (not "run again")."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

# Below this (a small study's experiment state and a checkpoint) a study does not start.
MIN_FREE_BYTES = 512 << 10


def free_bytes(path: str | Path) -> int:
    """Return the free bytes of the file system that holds `path` (or its nearest existing parent)."""
    folder = Path(path).resolve()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def full_disk(path: str | Path, err: BaseException | None = None) -> str | None:
    """Return the one line for a study stopped by a full disk, or None when the disk is not full.

    The disk is full when the error (or one it was raised from) is ENOSPC, or when less than
    MIN_FREE_BYTES is left where the study lives.
    """
    free = free_bytes(path)
    seen = err
    nospace = False
    while seen is not None and not nospace:
        nospace = isinstance(seen, OSError) and seen.errno == errno.ENOSPC
        seen = seen.__cause__ or seen.__context__
    if not nospace and free >= MIN_FREE_BYTES:
        return None
    return (f"the disk holding {path} is full ({_size(free)} free); the rows already reported are kept: "
            "free some space there and run the same command again")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
