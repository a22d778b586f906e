"""One dense run per dense seed for the epochs knob, shared by the trials of a study (DESIGN.md 2.1).

"Temperature e" is the model after e epochs of one full schedule, so the trials of an epochs
study (one per temperature) need prefixes of the same run. Instead of each trial training its
own prefix from scratch (10 + 20 + ... + 160 = 1,360 epochs for the paper's grid), the trials
of one dense seed share one run through a folder:

- `epoch{e:04d}.pt` holds the weights and the SGD state after epoch e, for every temperature e
  reached so far; it is written to a temporary name and renamed, so a reader never sees half a
  file.
- `trainer.lock` names the trial that is training (host, pid; `trainables.run.pidlock`); only it trains. It touches the
  lock after every epoch (a heartbeat).
- A trial that needs epoch e loads `epoch{e}.pt` if it exists. Otherwise it takes the lock,
  continues the run from the latest snapshot before e (weights and momentum: exactly the
  uninterrupted run), writes a snapshot at every temperature on the way, and releases the lock.
  While another trial holds the lock it waits and looks again.
- A holder that dies leaves the lock behind: on the same host the lock is taken over as soon as
  its pid is gone; from another host once it has not been touched for `stale_seconds`. The new
  holder continues from the latest snapshot, so at most the epochs since it are trained again.

Nothing here replaces a trial's own checkpoint: a retried trial reads its dense weights from
there. Plain files and no Ray: the folder must be one all trials see (the study directory on a
single machine or a shared file system); trials that see different folders each train their own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import torch

from trainables.run import pidlock
from trainables.run.watchdog import beat

Snapshot = dict  # {"epoch": int, "model": state_dict, "optimizer": SGD state, "diverged": bool}
LOCK = "trainer.lock"
# A holder writes its record right after creating the lock; one still unreadable after this long never will.
UNWRITTEN_LOCK_SECONDS = 5.0


def dense_at_epoch(folder: str | Path, epoch: int, *, stops: list[int],
                   advance: Callable[[Snapshot | None, int, Callable[[], None]], Snapshot],
                   stale_seconds: float = 600.0, poll_seconds: float = 0.5) -> tuple[Snapshot, dict[str, float]]:
    """Return the snapshot of the shared run after `epoch` epochs, training only what nobody has trained.

    Args:
        folder: the shared folder of one dense seed.
        epoch: the epoch this trial needs (its temperature).
        stops: the epochs at which snapshots are kept (the study's temperatures); `epoch` is one.
        advance: `advance(snapshot, stop, heartbeat)` trains from `snapshot` (None: the freshly
            initialised model, epoch 0) to epoch `stop` and returns the snapshot there, calling
            `heartbeat()` after every epoch.
        stale_seconds: a lock from another host not touched for this long is taken over.
        poll_seconds: how often a waiting trial looks again.

    Returns:
        (snapshot, {"epochs_trained": epochs this call trained, "seconds_waited": seconds spent
        waiting for another trial}).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    waited, trained = 0.0, 0
    while True:
        found = _load(folder, epoch)
        if found is not None:
            return found, {"epochs_trained": trained, "seconds_waited": waited}
        lock = _acquire(folder / LOCK, stale_seconds)
        if lock is None:
            time.sleep(poll_seconds)
            beat()  # waiting for another trial's dense run is progress (its own lock has a heartbeat)
            waited += poll_seconds
            continue
        try:
            snapshot = _latest_before(folder, epoch)
            for stop in sorted({s for s in stops if s <= epoch} | {epoch}):
                start = 0 if snapshot is None else snapshot["epoch"]
                if stop <= start:
                    continue
                snapshot = advance(snapshot, stop, lambda lock=lock: _touch(lock))
                snapshot["epoch"] = stop
                _save(folder, stop, snapshot)
                trained += stop - start
        finally:
            _release(lock)


def _path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch{epoch:04d}.pt"


def _load(folder: Path, epoch: int) -> Snapshot | None:
    path = _path(folder, epoch)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def _latest_before(folder: Path, epoch: int) -> Snapshot | None:
    done = sorted(int(p.stem[5:]) for p in folder.glob("epoch[0-9][0-9][0-9][0-9].pt"))
    before = [e for e in done if e < epoch]
    return _load(folder, before[-1]) if before else None


def _save(folder: Path, epoch: int, snapshot: Snapshot) -> None:
    partial = folder / f".epoch{epoch:04d}.{os.getpid()}.tmp"
    torch.save(snapshot, partial)
    os.replace(partial, _path(folder, epoch))


def _acquire(path: Path, stale_seconds: float) -> Path | None:
    if pidlock.try_create(path):
        return path
    if _stale(path, stale_seconds):
        path.unlink(missing_ok=True)  # its holder died; the next look takes it
    return None


def _stale(path: Path, stale_seconds: float) -> bool:
    holder = pidlock.read_holder(path)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False  # just removed: look again
    if holder is None:  # being written, or left empty by a holder that died writing it (a full disk)
        return age > UNWRITTEN_LOCK_SECONDS
    return pidlock.holder_died(holder) or age > stale_seconds


def _touch(path: Path) -> None:
    os.utime(path)


def _release(path: Path) -> None:
    pidlock.release(path)
