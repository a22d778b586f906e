"""Faults inside a trial and of a study's place, each with a real `regimes run` in its own process.

A trial that hangs (its model's forward blocks) is ended by its watchdog and retried; a trial
under a real address-space limit runs out of memory on every try and the study ends with one line;
a study copied or moved to another root resumes there and writes nothing to the old one; a driver
SIGKILLed in the middle of a repair leaves a study the same command finishes. Each owed cell is
counted on disk afterwards: exactly once.
"""

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract.results import row_counts
from tests.conftest import ROOT
from tests.helpers import ENV, regimes

pytestmark = pytest.mark.slow
CONFIG = str(ROOT / "configs/tiny.yaml")
CELLS = {(2.0, 0, 0.1), (2.0, 0, 0.5), (4.0, 0, 0.1), (4.0, 0, 0.5)}


def _run(storage: Path, *sets: str) -> subprocess.CompletedProcess:
    return regimes("run", CONFIG, "--storage", str(storage), *[a for s in sets for a in ("--set", s)], cwd=storage)


def _each_once(study: Path) -> bool:
    return row_counts(study) == collections.Counter({cell: 1 for cell in CELLS})


def test_a_trial_whose_forward_blocks_is_ended_by_its_watchdog_retried_and_said_in_status(tmp_path):
    done = _run(tmp_path, "faults.hang_after_densities=1", "resources.trial_timeout_s=5")
    assert done.returncode == 0, done.stderr[-3000:]
    failed = [line for line in done.stderr.splitlines() if line.startswith("trial T=")]
    assert len(failed) == 2 and all("(hung: no progress for" in line and "retrying it" in line for line in failed)
    study = tmp_path / "tiny"
    assert _each_once(study)
    status = regimes("status", str(study), cwd=tmp_path)
    said = [line for line in status.stdout.splitlines() if ": failed 1x, last: hung: no progress for" in line]
    assert sorted(line.split(":")[0] for line in said) == ["T=2 seed=0", "T=4 seed=0"], status.stdout


def test_a_trial_out_of_memory_on_every_try_ends_the_study_in_one_line_keeping_its_rows(tmp_path):
    pytest.importorskip("resource", reason="address-space limits (setrlimit) are POSIX")
    done = _run(tmp_path, "faults.out_of_memory_after_densities=1", "resources.max_failures=1")
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("unfinished: 2/4 cells; the trial at T=") and "(and 1 other) ran out of memory on all " \
        "2 tries: it had " in last and "(RLIMIT_AS) on the CPU" in last and "lower dense.batch_size" in last, last
    assert last.endswith("(2 trials errored)")
    # The first density of each trial came before the limit: kept, once; nothing else.
    assert row_counts(tmp_path / "tiny") == {(2.0, 0, 0.1): 1, (4.0, 0, 0.1): 1}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """The tiny study with both trials errored after their first density (no retries); copy it before use."""
    storage = tmp_path_factory.mktemp("interrupted")
    first = _run(storage, "faults.crash_after_densities=1", "resources.max_failures=0")
    assert first.returncode == 1 and "unfinished: 2/4 cells" in first.stderr, first.stderr[-2000:]
    return storage / "tiny"


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def _resume(root: Path) -> subprocess.CompletedProcess:
    return _run(root, "faults.crash_after_densities=1", "resources.max_failures=0")


def test_a_study_moved_to_another_root_resumes_there_and_every_command_reads_it(interrupted, tmp_path):
    old = shutil.copytree(interrupted, tmp_path / "old" / "tiny")
    (tmp_path / "new").mkdir()
    study = Path(shutil.move(str(old), str(tmp_path / "new" / "tiny")))
    done = _resume(tmp_path / "new")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _each_once(study)
    assert json.loads((study / "regimes_config.json").read_text())["study"]["storage"] == str(tmp_path / "new")
    assert not (tmp_path / "old" / "tiny").exists()
    for command in (["status", str(study)], ["ls", str(tmp_path / "new")], ["select", str(study), "--density", "0.5"],
                    ["report", str(study), "--out", str(tmp_path / "report.html")]):
        read = regimes(*command, cwd=tmp_path)
        assert read.returncode == 0, (command, read.stderr[-2000:])


def test_a_copied_study_trains_again_in_its_own_folders_and_writes_nothing_to_the_original(interrupted, tmp_path):
    old = shutil.copytree(interrupted, tmp_path / "old" / "tiny")
    (tmp_path / "new").mkdir()
    study = Path(shutil.copytree(old, tmp_path / "new" / "tiny"))
    # Damaged checkpoints make the resumed trials train their dense models again, in the shared
    # dense run (epochs knob) that their frozen Tune configs place in the original study.
    for checkpoint in study.glob("run_trial_*/checkpoint_*/*"):
        checkpoint.write_bytes(b"garbage")
    shutil.rmtree(study / "dense_prefix")
    before = _listing(old)
    first = _resume(tmp_path / "new")  # trained over, the first density's crash comes again
    done = _resume(tmp_path / "new") if first.returncode else first
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(row_counts(study)) == CELLS
    assert sorted(p.name for p in (study / "dense_prefix" / "seed0").glob("*.pt")) == ["epoch0002.pt", "epoch0004.pt"]
    assert _listing(old) == before


def test_a_driver_killed_during_a_repair_leaves_a_study_the_same_command_finishes(tiny_study, tmp_path):
    study = tmp_path / "clean"  # the session's finished tiny study, under its name
    shutil.copytree(tiny_study[1].path, study)
    for trial in study.glob("run_trial_*"):
        shutil.rmtree(trial)
    driver = subprocess.Popen([sys.executable, "-m", "study.cli", "run", CONFIG, "--storage", str(tmp_path),
                               "--set", "study.name=clean"],
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV, start_new_session=True)
    try:
        deadline, seen = time.monotonic() + 180, []
        for line in driver.stderr:
            seen.append(line)
            if line.startswith("cells 1/4") or time.monotonic() > deadline:
                break
        assert any(line.startswith("repair: 4 owed cells of 2 trials") for line in seen), seen
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        _kill_group(driver.pid)
    assert (study / "repair-1").is_dir()
    done = _run(tmp_path, "study.name=clean")
    assert done.returncode == 0, done.stderr[-3000:]
    # What the killed repair had written stays; what it had not (Tune's driver keeps result rows in
    # its staging folder between syncs, and the kill lost them) goes to a second repair.
    assert any(line.startswith("repair: ") and line.endswith(f"{study}/repair-2") for line in done.stderr.splitlines())
    assert done.stderr.strip().splitlines()[-1] == f"study complete: {study}"
    assert _each_once(study)


def _kill_group(pgid: int) -> None:
    # The killed driver's own Ray (raylet, GCS, workers) shares its session: stopped here, by group.
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
