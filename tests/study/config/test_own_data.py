"""A study on the user's own model and data, end to end through Ray: image folders, .npz, torchvision models."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.trainables.data.test_files import write_image_folder, write_npz

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_torchvision_resnet18_on_png_image_folders_through_regimes_run(tmp_path):
    data = write_image_folder(tmp_path / "pets", per_class=(8, 4))
    run = subprocess.run([sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"), "--storage",
                          str(tmp_path / "studies"), "--set", "data.name=imagefolder", "--set", f"data.root={data}",
                          "--set", "data.image_size=16", "--set", "model.name=torchvision/resnet18"],
                         capture_output=True, text=True, cwd=tmp_path, env=ENV, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    select = subprocess.run([sys.executable, "-m", "study.cli", "select", str(tmp_path / "studies" / "tiny"),
                             "--density", "0.5", "--json"], capture_output=True, text=True, cwd=tmp_path, env=ENV,
                            timeout=300)
    assert select.returncode == 0, select.stderr
    answer = json.loads(select.stdout)
    assert answer["temperature"] in (2.0, 4.0) and 0.0 <= answer["test_acc"] <= 1.0


def test_an_npz_study_reads_back_through_select(ray_cluster, tmp_path):
    from study.cli import main
    from study.config import load_config
    from study.run.launch import run_study

    path = write_npz(tmp_path / "signals.npz", shape=(1, 32), n_train=64, n_test=32)
    config = load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "study.name": "npz",
                                                      "data.name": "npz", "data.root": str(path)})
    outcome = run_study(config)
    assert outcome.complete
    assert main(["select", outcome.path, "--density", "0.5"]) == 0
    import numpy as np

    from analysis import read_study

    raw = np.load(path)["x_train"]
    stats = read_study(outcome.path).cells["data_stats"].iloc[0]  # the training split's, kept with the results
    assert stats == f"mean {raw.mean():.6g}; std {raw.std(ddof=1):.6g}"


def test_a_missing_npz_file_is_one_line_before_ray(tmp_path):
    run = subprocess.run([sys.executable, "-m", "study.cli", "run", str(ROOT / "configs/tiny.yaml"), "--set",
                          "data.name=npz", "--set", "data.root=missing.npz"], capture_output=True, text=True,
                         cwd=tmp_path, env=ENV, timeout=120)
    assert run.returncode == 2
    assert run.stderr == (f"regimes: error: {ROOT / 'configs/tiny.yaml'}: data.root: npz: {tmp_path / 'missing.npz'} "
                          "is not a file; set data.root to the path of one .npz file\n")
