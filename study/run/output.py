"""Where a study run's lines go: ours to the terminal, Ray's own output to a log file beside the study.

By default Ray's output (warnings, worker tracebacks, raylet dumps) goes to `regimes-run.log`, named
in one line; our progress lines go to a duplicate of the terminal's stderr that the redirection
does not touch. No Ray here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from study.config import StudyConfig, is_uri

LOG_FILE = "regimes-run.log"


@contextlib.contextmanager
def terminal(out: TextIO | None):
    """Yield `out`, or a stream onto the terminal's stderr that outlives the redirection of fds 1 and 2."""
    # Our lines go to the caller's stream, or to a duplicate of the terminal's stderr that the
    # redirection of Ray's output does not touch.
    if out is not None:
        yield out
        return
    stream = os.fdopen(os.dup(2), "w")
    try:
        yield stream
    finally:
        stream.close()


def log_path(config: StudyConfig, path: str) -> Path:
    """Return where Ray's output of this run goes: beside a local study, in the temp folder for a URI one."""
    # Local studies keep the log beside their results; a URI study's log stays on this machine.
    if is_uri(path):
        return Path(tempfile.gettempdir()) / f"regimes-{config.study.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path) / LOG_FILE


@contextlib.contextmanager
def output_to(log: Path):
    """Send file descriptors 1 and 2 (this process's and Ray's processes') to `log` for the context."""
    # Ray writes from this process (Python logging, C++ glog) and from the processes it spawns
    # (raylet, GCS), which inherit file descriptors 1 and 2: redirect both, at the fd level, for
    # the whole run; Ray processes started meanwhile keep writing to the log afterwards.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "a") as fh:
        fh.write(f"--- regimes run, {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()}\n")
        fh.flush()
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # a full disk under the log: what is left goes to the terminal
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
