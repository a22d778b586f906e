"""The launcher's side of the cells a study owes (`contract.results`): its manifest and its disk space.

The manifest (`regimes_manifest.json`) is written atomically, like the config snapshot: the trials
a search has started (the grid's own are its config) and, once Tune's experiment state could not
be read back, why: from then on the study's owed cells are computed in repair experiments and the
damaged state is never restored again (a restore would run again the cells a repair computed).
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

from contract.results import MANIFEST_FILE, read_manifest
from study.snapshot import write_atomically

# Below this (a small study's experiment state and a checkpoint) a study does not start.
MIN_FREE_BYTES = 512 << 10


def record_trial(study: str | Path, temperature: float, dense_seed: int) -> None:
    """Add a searched trial to the study's manifest (once)."""
    manifest = read_manifest(study)
    trials = [list(t) for t in manifest.get("trials", [])]
    if [float(temperature), int(dense_seed)] not in trials:
        trials.append([float(temperature), int(dense_seed)])
        _write(study, {**manifest, "trials": trials})


def record_owes(study: str | Path, owes: dict[tuple[float, int], list[float]]) -> None:
    """Record what a screened study's full stage owes, decided once from its finished screen (`contract.screen`)."""
    _write(study, {**read_manifest(study), "owes": [[float(t), int(s), [float(d) for d in densities]]
                                                     for (t, s), densities in owes.items()]})


def tune_state_lost(study: str | Path) -> str | None:
    """Return why the study's own Tune experiment state was given up, or None while it is in use."""
    return read_manifest(study).get("tune_state_lost")


def give_up_tune_state(study: str | Path, reason: str) -> None:
    """Record that the study's Tune experiment state cannot be read, and why (never restored again)."""
    _write(study, {**read_manifest(study), "tune_state_lost": reason})


def _write(study: str | Path, manifest: dict) -> None:
    Path(study).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(study) / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())


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
