"""A two-cell study on real MNIST through `regimes run`: the project's IDX path on the original files.

Needs `../shared/data/MNIST/raw/` beside the project (its README says where the files come from);
skips with that reason elsewhere: the project never depends on that folder.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SHARED = ROOT.parent / "shared" / "data"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(),
                                 reason=f"real MNIST is not at {SHARED / 'MNIST' / 'raw'} on this machine")]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_two_cells_of_lenet300_on_real_mnist_record_their_subset_and_split(tmp_path):
    # 1,000 of the 60,000 training images (100 per class, MNIST's classes are near equal), 100 of them
    # held out for validation; two learning rates, one density, the whole 10,000-image test set.
    sets = {"study.name": "mnist2", "study.knob": "lr", "study.temperatures": "[0.05,0.1]", "study.dense_seeds": "[0]",
            "data.name": "torchvision/MNIST", "data.root": str(SHARED), "data.download": "false",
            "data.train_subset": "1000", "data.validation": "100", "model.name": "lenet300",
            "dense.epochs": "3", "dense.milestones": "[2]", "pruning.densities": "[0.1]", "retrain.epochs": "1",
            "retrain.milestones": "[]", "retrain.last_epochs": "1", "metrics.cka_examples": "500"}
    args = [a for key, value in sets.items() for a in ("--set", f"{key}={value}")]
    run = subprocess.run([sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"), "--storage",
                          str(tmp_path), *args], capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    from analysis import read_study

    cells = read_study(tmp_path / "mnist2").cells
    assert sorted(cells["temperature"]) == [0.05, 0.1] and set(cells["density"]) == {0.1}
    assert set(cells["train_subset"]) == {1000} and set(cells["n_val"]) == {100} and set(cells["n_train"]) == {900}
    # Three epochs on 900 real digits: far above chance (0.1) on the real test set.
    assert (cells["dense_test_acc"] > 0.7).all() and (cells["test_acc"] > 0.5).all()
    select = subprocess.run([sys.executable, "-m", "study.cli", "select", str(tmp_path / "mnist2"), "--density",
                             "0.1", "--by", "val", "--json"], capture_output=True, text=True, cwd=tmp_path, env=ENV,
                            timeout=300)
    assert select.returncode == 0, select.stderr
    assert json.loads(select.stdout)["temperature"] in (0.05, 0.1)
