"""What the tests share: `regimes` in its own process, a driver stopped at a cell, the hands that damage a study.

`regimes` runs the command line as a user would, in a process of its own.
`tests/scenarios/test_recovery.py` asserts what each fault leaves and what the same command
mends; `benchmarks/faults.py` and `benchmarks/fault_probes.py` time the same faults for the
table in docs/running.md. Both reach a trial's folder by the config it received (params.json,
`contract.folders`), never by how Tune spells folder names, and count rows with their own
reader (`rows_on_disk`), independent of the code under test. `driver_at` starts a `regimes`
driver and returns once its progress line reaches a cell, for the tests that interrupt, kill or
race a running study.
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from contract.folders import trial_folders, trial_params

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs/tiny.yaml"  # 2 temperatures (2.0, 4.0) x 2 densities (0.1, 0.5), one dense seed
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def regimes(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run `regimes ARGS` in its own process (the project on PYTHONPATH); return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env or ENV, timeout=timeout)


def regimes_run(storage: Path, *args: str, storage_uri: str | None = None, timeout: float = 600):
    """Run `regimes run` on the tiny config in its own process, as a user reruns it; return the CompletedProcess.

    A driver of its own: a test session's Ray keeps staging copies of a clean study's files that
    would hide the damage. `args` follow the config (`--set study.name=clean`, ...).
    """
    return subprocess.run([sys.executable, "-m", "study.cli", "run", str(TINY), "--storage",
                           storage_uri or str(storage), *args], capture_output=True, text=True, cwd=storage,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout)  # AWS_* as set now


def driver_at(args: list[str], cwd: Path, *, cells: str = "cells 1/", env: dict | None = None,
              own_session: bool = False, wait_s: float = 180) -> subprocess.Popen:
    """Start `regimes ARGS` in its own process and return it once its progress line starts with `cells`.

    At most `wait_s` seconds are waited (a driver that fails early is returned too, for the test
    to see why). `own_session` puts the driver and its Ray in a process group of their own (to kill both).
    """
    driver = subprocess.Popen([sys.executable, "-m", "study.cli", *args], stderr=subprocess.PIPE, text=True, cwd=cwd,
                              env=env or ENV, start_new_session=own_session)
    deadline = time.monotonic() + wait_s
    for line in driver.stderr:
        if line.startswith(cells) or time.monotonic() > deadline:
            break
    return driver


def trial_folder(study: Path, temperature: float) -> Path:
    """Return the folder of the study's trial at `temperature` (its first dense seed's)."""
    return next(folder for folder in trial_folders(study)
                if math.isclose(float((trial_params(folder) or {}).get("temperature", math.nan)), temperature))


def copy_study(clean: Path, storage: Path) -> Path:
    """Copy a finished study under `storage` as it is (a study resumes where it now lives); return the copy."""
    return Path(shutil.copytree(clean, storage / clean.name))


def cut(file: Path, keep: float = 0.5) -> None:
    """Cut `file` to the first `keep` of its bytes, as a crash or a full disk would."""
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])


def bad_byte(result: Path) -> None:
    """Keep a result file's first two lines, the second with bytes that are not UTF-8 in its middle."""
    first, second = result.read_bytes().splitlines()[:2]
    result.write_bytes(first + b"\n" + second[:50] + b"\xff\xfe garbage" + second[50:] + b"\n")


def rows_on_disk(study: Path) -> collections.Counter:
    """Count every readable row of every result.json under the study (its own trials and any repair's), per cell."""
    counts = collections.Counter()
    for result in study.rglob("result.json"):
        for line in result.read_bytes().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "density" in row:
                counts[(row["temperature"], row["dense_seed"], row["density"])] += 1
    return counts
