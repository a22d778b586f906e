"""Plug-ins by entry point: the example package under examples/plugin, installed by the test, runs a study."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """A folder holding the installed example package (pip --target: the project's venv is left alone)."""
    source = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(ROOT / "examples" / "plugin", source)  # the build writes next to its sources
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, timeout=300)
    return site


def _regimes(*args, site, cwd):
    # PYTHONPATH reaches the Ray workers too: the study's own cluster starts from this environment.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    return subprocess.run([sys.executable, "-m", "study.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_the_example_plugins_model_and_dataset_run_a_study_through_regimes_run(plugin_site, tmp_path):
    run = _regimes("run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), "--set",
                   "model.name=regimes_example/tinynet", "--set", "model.kwargs={hidden: 16}", "--set",
                   "data.name=regimes_example/blobs", site=plugin_site, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    select = _regimes("select", str(tmp_path / "tiny"), "--density", "0.5", "--json", site=plugin_site, cwd=tmp_path)
    assert select.returncode == 0, select.stderr
    assert json.loads(select.stdout)["test_acc"] > 0.5  # four well-separated blobs: far above chance (0.25)


def test_a_plugin_that_is_not_installed_is_one_line_naming_what_is(plugin_site, tmp_path):
    run = _regimes("run", str(ROOT / "configs/tiny.yaml"), "--set", "model.name=regimes_example/bignet",
                   site=plugin_site, cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "model.name: no installed package registers the model 'regimes_example/bignet'" in run.stderr
    assert "installed: regimes_example/tinynet" in run.stderr
