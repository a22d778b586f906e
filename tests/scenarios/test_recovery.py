"""Faults that used to lose rows for good, each as the probe did it, then the same command again.

Each test damages a finished copy of the tiny study (2 temperatures x 2 densities) the way a
user's disk or hands would (a deleted trial folder, garbage bytes, an experiment state cut short,
a full disk), reruns `regimes run` with the same arguments, and counts the rows on disk: every
owed cell exactly once, with the numbers of the undamaged study.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import ENV, bad_byte, copy_study, regimes_run, rows_on_disk, trial_folder

pytestmark = pytest.mark.slow
CELLS = [(2.0, 0, 0.1), (2.0, 0, 0.5), (4.0, 0, 0.1), (4.0, 0, 0.5)]


def _copy(tiny_study, tmp_path) -> Path:
    # The finished tiny study ("clean"), copied under tmp_path as it is: a study resumes where it now lives.
    return copy_study(Path(tiny_study[1].path), tmp_path)


def _run(tmp_path, *extra) -> tuple[int, list[str]]:
    done = regimes_run(tmp_path, *extra, timeout=300)
    return done.returncode, done.stderr.splitlines()


def _same_numbers(study: Path, clean: Path) -> None:
    from analysis.load import load_study

    got, want = load_study(study), load_study(clean)
    assert [tuple(r) for r in got[["temperature", "dense_seed", "density"]].itertuples(index=False)] == CELLS
    assert list(got["test_acc"]) == list(want["test_acc"]) and list(got["lmc"]) == list(want["lmc"])


def test_a_deleted_folder_garbage_bytes_and_a_damaged_checkpoint_are_mended_by_the_same_command(
        tiny_study, tmp_path, capsys):
    # The probe's faults of a finished study, at once: the T=4 trial's folder deleted, a non-UTF-8
    # byte in the T=2 trial's second result line, garbage over its checkpoint, the config snapshot
    # deleted. Before, every rerun said "unfinished: 2/4 ... run the same command again" (or "holds
    # no resumable Tune state") and never recomputed.
    from study.cli import main

    study = _copy(tiny_study, tmp_path)
    shutil.rmtree(trial_folder(study, 4.0))
    bad_byte(trial_folder(study, 2.0) / "result.json")
    for state in trial_folder(study, 2.0).glob("checkpoint_*/*"):
        state.write_bytes(b"garbage" * 20)
    (study / "regimes_config.json").unlink()  # read back from the trials' own config, then written again
    assert sum(rows_on_disk(study).values()) == 1
    assert main(["status", str(study)]) == 0
    assert "cells 1/4;" in capsys.readouterr().out
    assert main(["validate", str(study)]) == 0
    assert "note: 3 of the study's 4 cells are missing" in capsys.readouterr().err
    code, lines = _run(tmp_path, "--set", "study.name=clean")
    assert code == 0, lines
    assert f"repair: 3 owed cells of 2 trials that no result file holds and Tune will not compute again, in " \
           f"{study}/repair-1" in lines
    assert lines[-1] == f"study complete: {study}"
    assert rows_on_disk(study) == {cell: 1 for cell in CELLS}
    _same_numbers(study, Path(tiny_study[1].path))
    code, lines = _run(tmp_path, "--set", "study.name=clean")  # nothing owed: nothing run
    assert code == 0 and not any(line.startswith("repair:") for line in lines), lines
    assert sorted(p.name for p in study.glob("repair-*")) == ["repair-1"]
    assert json.loads((study / "regimes_config.json").read_text())["study"]["name"] == "clean"


def test_an_experiment_state_cut_short_is_given_up_and_the_owed_cells_computed(tiny_study, tmp_path, capsys):
    from study.cli import main

    study = _copy(tiny_study, tmp_path)
    for state in study.glob("experiment_state-*.json"):
        state.write_bytes(state.read_bytes()[:100])
    shutil.rmtree(trial_folder(study, 2.0))
    assert main(["ls", str(tmp_path)]) == 0
    assert "cells 2/4      unfinished; damaged: Tune could not read" in capsys.readouterr().out
    code, lines = _run(tmp_path, "--set", "study.name=clean")
    assert code == 0, lines
    assert any(line.startswith(f"Tune's experiment state of {study} cannot be read (") for line in lines)
    assert any(line.startswith("repair: 2 owed cells of 1 trial") for line in lines)
    assert rows_on_disk(study) == {cell: 1 for cell in CELLS}
    _same_numbers(study, Path(tiny_study[1].path))
    # Given up for good: a later run goes straight to the owed cells (tests/contract/test_results.py).
    assert json.loads((study / "regimes_manifest.json").read_text())["tune_state_lost"].startswith("RuntimeError")


def test_a_searched_study_knows_the_trials_it_started_when_one_is_deleted(ray_cluster, tmp_path, capfd):
    from study.cli import main

    search = ("--set", "study.search=random", "--set", "study.max_trials=1")
    assert main(["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), *search]) == 0  # in process
    capfd.readouterr()
    study = tmp_path / "tiny"
    (trial,) = json.loads((study / "regimes_manifest.json").read_text())["trials"]
    shutil.rmtree(trial_folder(study, trial[0]))
    code, lines = _run(tmp_path, *search)
    assert code == 0, lines
    assert any(line.startswith("repair: 2 owed cells of 1 trial") for line in lines)
    assert rows_on_disk(study) == {(trial[0], trial[1], 0.1): 1, (trial[0], trial[1], 0.5): 1}


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def test_a_full_disk_stops_with_one_line_and_the_same_command_finishes_once_space_is_freed(tmp_path):
    # The probe: a 600 KB tmpfs holds the first trial's cells and not the second's (the study
    # needs about 1 MB). Needs permission to mount; skipped without it.
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "600k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the full disk is simulated nowhere else")
    try:
        args = [sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"), "--storage", str(disk)]
        first = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=300)
        last = first.stderr.strip().splitlines()[-1]
        assert first.returncode == 2 and last.startswith(f"regimes: error: the disk holding {disk / 'tiny'} is "
                                                         "full ("), first.stderr
        assert last.endswith("free); the rows already reported are kept: free some space there and run the same "
                             "command again")
        before = rows_on_disk(disk / "tiny")
        assert set(before.values()) <= {1}
        again = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=300)
        assert again.returncode == 2 and "is full (" in again.stderr  # still full: refused before Ray
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        freed = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=300)
        assert freed.returncode == 0, freed.stderr
        assert rows_on_disk(disk / "tiny") == {cell: 1 for cell in CELLS}
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
