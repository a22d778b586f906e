"""A real two-node Ray cluster on this machine: a study spread over both survives losing one.

`ray start --head` plus a second `ray start --address` node, one CPU each, so the study's two
trials run one on each node. When a trial on the second node has reported its first cell, the
second node's raylet and every process under it (its workers) are killed by pid, as a lost
machine would be. The study must finish on the head, report every cell exactly once, and give
the numbers of an undisturbed run. Both clusters are torn down by pid, whatever happens.
"""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.ray_nodes import ENV, kill, node_processes, ray_nodes

pytestmark = pytest.mark.slow
# Two learning rates x six densities, 40 retraining epochs: each trial runs long enough after its
# first cell for the kill to land mid-trial.
STUDY = ["--set", "study.knob=lr", "--set", "study.temperatures=[0.02, 0.05]", "--set", "retrain.epochs=40",
         "--set", "pruning.densities=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]", "--set", "resources.max_failures=2"]


def _rows(study: Path) -> list[dict]:
    rows = []
    for file in study.glob("*/result.json"):
        for line in file.read_text().splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    return rows


def test_a_study_over_two_nodes_finishes_when_the_second_node_is_lost(ray_cluster, tmp_path):
    with ray_nodes() as (address, second):
        run = subprocess.Popen([sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"),
                                "--storage", str(tmp_path / "lost"), "--address", address,
                                "--set", "study.shared_storage=true", *STUDY],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV)
        try:
            killed = _kill_second_node_mid_trial(tmp_path / "lost" / "tiny", second, deadline=time.monotonic() + 240)
            out, err = run.communicate(timeout=400)
        finally:
            if run.poll() is None:
                run.kill()
        assert killed, "no trial reported from the second node"
        assert run.returncode == 0, err[-3000:]
    assert "failed; retrying it from its last finished density" in err  # the lost trial, said in one line
    rows = _rows(tmp_path / "lost" / "tiny")
    cells = [(r["temperature"], r["dense_seed"], r["density"]) for r in rows]
    assert len(cells) == len(set(cells)) == 12  # every cell exactly once

    from study.config import load_config
    from study.run.launch import run_study

    overrides = {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in STUDY[1::2])}
    calm = run_study(load_config(ROOT / "configs/tiny.yaml", {**overrides, "study.storage": str(tmp_path / "calm")}))
    assert calm.complete
    expected = {(r["temperature"], r["dense_seed"], r["density"]): r for r in _rows(tmp_path / "calm" / "tiny")}
    for row in rows:
        twin = expected[(row["temperature"], row["dense_seed"], row["density"])]
        assert [row[k] for k in ("test_acc", "lmc", "cka", "dense_test_acc")] == \
            [twin[k] for k in ("test_acc", "lmc", "cka", "dense_test_acc")]


def _kill_second_node_mid_trial(study: Path, node_manager_port: int, *, deadline: float) -> bool:
    # Wait until a trial running under the second node's raylet has reported a cell, then kill
    # the raylet and its workers.
    while time.monotonic() < deadline:
        node = node_processes(node_manager_port)
        pids = set(node)
        reported = {r["pid"] for r in _rows(study) if "pid" in r}
        if reported & pids:
            kill(node)
            return True
        time.sleep(0.2)
    return False
