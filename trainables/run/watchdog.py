"""A trial that stops making progress is ended, so that Tune retries it from its last checkpoint.

Ray Tune has no per-trial timeout (ray issue #47475): `TuneConfig.time_budget_s` ends the whole
experiment, and a stop criterion is checked only when a trial reports, which a hung trial never
does. A dead data loader, a deadlocked collective or a stalled file system would keep a study
waiting forever. So the trial watches itself: training steps, evaluation batches and the wait for
a shared dense run each `beat()`, and a thread ends the trial's process when no beat came for
`resources.trial_timeout_s` seconds. Tune sees a failed trial and retries it under
`resources.max_failures`, from the last density it reported; the reason is written to the
trial's folder first (`contract.folders.FAULTS_FILE`), where `regimes status` and the run's
failure line read it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from contract.folders import FAULTS_FILE

# The exit status of a trial process ended for want of progress (what Ray's error shows).
HUNG_EXIT = 75
_last_beat = [time.monotonic()]


def beat() -> None:
    """Record that the trial made progress (one training step, one evaluation batch, one wait)."""
    _last_beat[0] = time.monotonic()


def seconds_since_beat() -> float:
    """Return the seconds since the last `beat()` of this process."""
    return time.monotonic() - _last_beat[0]


class Watchdog:
    """Ends this process when `seconds_since_beat()` passes `timeout_s`, after `note(message)`.

    A context manager: the watching thread (a daemon) runs inside the `with` block only. A
    timeout of None watches nothing.
    """

    def __init__(self, timeout_s: float | None, note: Callable[[str], None], *,
                 exit_: Callable[[int], None] = os._exit):
        self.timeout_s, self.note, self.exit = timeout_s, note, exit_
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Watchdog":
        beat()
        if self.timeout_s is not None:
            self._thread = threading.Thread(target=self._watch, name="regimes-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        poll = min(5.0, self.timeout_s / 5)
        while not self._stop.wait(poll):
            idle = seconds_since_beat()
            if idle > self.timeout_s:
                message = f"hung: no progress for {idle:.0f} s, over resources.trial_timeout_s ({self.timeout_s:g})"
                try:
                    self.note(message)
                finally:
                    print(message, file=sys.stderr, flush=True)
                    self.exit(HUNG_EXIT)
                return


def note_fault(trial_folder: Path | None, fault: str, message: str) -> None:
    """Append why the trial is ending (`fault`: "hang", "memory") to its folder's FAULTS_FILE; None: nowhere.

    Written before the process ends, so that `regimes status` and the run's failure line can say
    what Tune's own error ("the actor died") does not.
    """
    if trial_folder is None:
        return
    try:
        with open(Path(trial_folder) / FAULTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"fault": fault, "message": message, "time": time.time()}) + "\n")
    except OSError:  # the note is a courtesy: a full or read-only disk must not hide the fault itself
        pass
