"""Faults that must lose nothing: interruption, a concurrent run, divergence, bad input, stale locks."""

import json
import math
import os
import signal
import subprocess

import pytest

from study.config import load_config
from study.run.lock import LOCK_FILE, StudyLocked, acquire, release
from tests.conftest import ROOT
from tests.helpers import driver_at, regimes


@pytest.mark.slow
def test_sigint_then_rerun_finishes_with_nothing_recomputed_and_a_second_run_is_refused(tmp_path):
    # Long enough (about 15 s after the first cell) that the run is still going when the refused
    # second run (several seconds of imports) has returned and SIGINT is sent.
    densities = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--set", "retrain.epochs=40",
            "--set", f"pruning.densities={densities}"]
    first = driver_at(args, tmp_path, cells="cells 1/12")
    # A second run on the same study while the first holds it: refused, one line, status 2.
    second = regimes(*args, cwd=tmp_path)
    assert second.returncode == 2
    assert second.stderr.strip().count("\n") == 0 and f"is being run by pid {first.pid}" in second.stderr
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert first.returncode == 1  # unfinished, said so
    status = regimes("status", str(tmp_path / "tiny"), cwd=tmp_path)
    done_line = status.stdout.strip().splitlines()[-1]
    done = int(done_line.split()[1].split("/")[0])
    assert 1 <= done < 12 and "unfinished" in status.stdout, status.stdout
    assert not (tmp_path / "tiny" / LOCK_FILE).exists()  # released on the way out
    again = regimes(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    from ray.tune import ExperimentAnalysis

    for df in ExperimentAnalysis(str(tmp_path / "tiny")).trial_dataframes.values():
        assert sorted(df["density"]) == densities  # each density reported exactly once


@pytest.mark.slow
def test_a_diverging_cell_is_reported_not_crashed_and_analysis_leaves_it_out(ray_cluster, tmp_path):
    from analysis import aggregate, classify, load_study
    from study.run.launch import run_study

    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.knob": "lr",
                                                     "study.temperatures": [0.05, 1.0e6]})
    outcome = run_study(config)
    assert outcome.complete and outcome.errored_trials == 0
    cells = load_study(outcome.path)
    hot = cells[cells.temperature == 1.0e6]
    assert list(hot.status) == ["diverged", "diverged"]
    assert all(math.isnan(v) for v in hot.test_acc) and all(math.isnan(v) for v in hot.lmc)
    assert set(cells[cells.temperature == 0.05].status) == {"ok"}
    # the lr knob trains the whole 4-epoch schedule in each trial (nothing to share)
    assert cells[cells.temperature == 0.05].dense_epochs_trained.max() == 4
    regimes = classify(aggregate(cells), mc_threshold=-0.2, cka_eps=0.005, confidence=0)
    assert list(regimes[regimes.temperature == 1.0e6].regime) == ["n/a", "n/a"]


def test_an_unwritable_storage_path_is_one_line_before_ray(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = regimes("run", str(ROOT / "configs/tiny.yaml"), "--storage", str(blocker / "studies"), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("regimes: error: study.storage: cannot write to")


def test_a_missing_config_file_is_one_line(tmp_path):
    result = regimes("run", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "regimes: error: nope.yaml: cannot read the file (No such file or directory); check the path\n"


def test_a_live_lock_refuses_and_a_stale_one_is_taken_over(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text(json.dumps({"host": os.uname().nodename, "pid": os.getppid(), "since": "earlier"}))
    with pytest.raises(StudyLocked, match=f"being run by pid {os.getppid()}"):
        acquire(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid, "since": "earlier"}))
    taken = acquire(tmp_path)
    assert json.loads(taken.read_text())["pid"] == os.getpid()
    release(taken)
    assert not lock.exists()


def test_a_lock_from_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "earlier"}))
    with pytest.raises(StudyLocked, match="on elsewhere"):
        acquire(tmp_path)


@pytest.mark.slow
def test_a_plain_run_prints_only_our_lines_and_keeps_rays_output_in_the_study_log(tmp_path):
    # A crash after the first density makes Tune retry each trial: its traceback and Ray's own
    # warnings belong in the log file, not on the user's terminal.
    result = regimes("run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--set",
                      "faults.crash_after_densities=1", "--set", "resources.max_failures=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log = tmp_path / "tiny" / "regimes-run.log"
    lines = result.stderr.splitlines()
    assert lines[:2] == [f"study: {tmp_path / 'tiny'}", f"ray log: {log}"]
    allowed = ("cells ", "trial T=", "4/4 cells done in", "study complete:")
    assert all(line.startswith(allowed) for line in lines[2:]), result.stderr
    assert sum(line.startswith("trial T=") for line in lines) == 2  # one line per failure, no traceback
    assert "Traceback" not in result.stderr + result.stdout and "WARNING" not in result.stderr
    assert "InjectedFault" in log.read_text()  # Tune's report of the failure went to the log
