"""Every shell and Python block of README.md and docs/ run as written, from a fresh `studies/`.

A newcomer copies the pages' commands into a shell at the project's root, in the pages' order,
with `regimes` on PATH (`source .venv/bin/activate`, as the README says). This does the same in
a copy of the project (README, docs, Makefile, configs) under a temporary folder: relative paths
as written, `make demo` as written, and a study a block names but no block made (the README's
prose runs `configs/demo_sam.yaml`) made by the config whose study.name it is, as the command
line's own hint says. The configs are shrunk (one dense and one retraining epoch, two dense
seeds, a subset of the data) so the whole walk takes minutes: it tests the commands, the paths
and the words of the answers, not the numbers, which are the demo's own (docs/demo.md). It took
7 min 31 s on 2 cores (39 commands and blocks with real MNIST); each `regimes run` spends about
20 s starting Ray and its workers, whatever the study's size.
Lines that cannot run here (a cluster, S3, CIFAR-10, the mutation run) are in
tests/docs_pages.py's NOT_RUN with what runs them instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.docs_pages import NEEDS_MNIST, NOT_RUN, PLUGIN, Command, all_commands, blocks, commands, shown_prefix

pytestmark = pytest.mark.slow
MNIST = ROOT.parent / "shared" / "data"
RUNNABLE_PYTHON_SKIPPED = {"# regimes_example/__init__.py": f"an excerpt of {PLUGIN.relative_to(ROOT)}, "
                           "which tests/scenarios/test_plugins.py installs and runs"}


TWO_SEEDS = ("demo.yaml", "demo_sam.yaml")  # the studies the pages ask for an answer with a standard error


def _shrunk(config: dict, name: str, named: set[float]) -> dict:
    # The densities the pages ask about, the coldest, middle and hottest temperature and any a page
    # names (a search keeps its grid to search), far less training: the words of every answer, in seconds.
    study, dense, retrain = config["study"], config["dense"], config["retrain"]
    grid = study["temperatures"]
    if study.get("search", "grid") == "grid":
        study["temperatures"] = sorted({grid[0], grid[len(grid) // 2], grid[-1]} | (named & set(grid)))
    study["dense_seeds"] = study.get("dense_seeds", [0, 1])[:2 if name in TWO_SEEDS else 1]
    if study["knob"] != "epochs":
        dense.update(epochs=1, milestones=[])
    retrain.update(epochs=2 if study.get("screen_epochs") else 1, milestones=[])  # a screen must be shorter
    if study.get("screen_epochs"):
        study["screen_epochs"] = 1
    if config.get("seeds", {}).get("max_seeds"):  # one seed more at most: the words, not the seeds
        config["seeds"]["max_seeds"] = len(study["dense_seeds"]) + 1
    config["data"]["train_subset"] = 600 if config["data"]["name"] == "mnist1d" else 1000
    config.setdefault("metrics", {}).update(lmc_points=3, lmc_subset=300, cka_examples=300)
    return config


def _project(tmp: Path) -> Path:
    # README, docs, the Makefile and shrunk configs; .venv is the running interpreter's environment.
    project = tmp / "project"
    project.mkdir()
    for name in ("README.md", "Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, project / name)  # mtimes kept: make sees .venv as up to date
    for folder in ("docs", "constraints"):
        shutil.copytree(ROOT / folder, project / folder)
    (project / "configs").mkdir()
    named = {float(t) for c in all_commands() for t in re.findall(r"--temperature (\S+)", c.text)}
    for path in (ROOT / "configs").glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        if config["data"]["name"] in ("mnist1d", "torchvision/MNIST"):
            config = _shrunk(config, path.name, named)
        (project / "configs" / path.name).write_text(f"# {path.name}, shrunk by {Path(__file__).name}\n"
                                                     + yaml.safe_dump(config, sort_keys=False))
    (project / ".venv").symlink_to(sys.prefix)
    if MNIST.is_dir():
        (tmp / "shared").mkdir()
        (tmp / "shared" / "data").symlink_to(MNIST)
    return project


def _shell(project: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "PYTHONPATH"))}
    return {**env, "PATH": f"{sys.prefix}/bin:{env['PATH']}", "VIRTUAL_ENV": sys.prefix}


def _missing_studies(text: str, project: Path) -> list[str]:
    # The configs that make a study this command reads (a `studies/NAME` it names) and no block made.
    if text.startswith("regimes run"):
        return []
    makers = []
    for name in re.findall(r"studies/([\w.-]+)", text):
        if not (project / "studies" / name).exists():
            for path in sorted((project / "configs").glob("*.yaml")):
                if yaml.safe_load(path.read_text())["study"]["name"] == name:
                    makers.append(f"regimes run configs/{path.name}")
                    break
    return makers


def _run(text: str, project: Path) -> subprocess.CompletedProcess:
    if text == "make demo" and subprocess.run(["make", "-q", ".venv/.installed"], cwd=project).returncode != 0:
        text = "regimes run configs/demo.yaml --storage studies && regimes report studies/demo"  # make demo's recipe
    return subprocess.run(["bash", "-c", text], cwd=project, env=_shell(project), capture_output=True, text=True,
                          timeout=600)


def _check(command: Command, project: Path) -> list[str]:
    problems = []
    for maker in _missing_studies(command.text, project):
        made = _run(maker, project)
        if made.returncode:
            problems.append(f"{command.page}: {maker} (to make a study `{command.text}` reads): exit "
                            f"{made.returncode}\n{(made.stdout + made.stderr)[-1500:]}")
    done = _run(command.text, project)
    said = done.stdout + done.stderr
    if done.returncode:
        problems.append(f"{command.page}: `{command.text}`: exit {done.returncode}\n{said[-1500:]}")
    prefix = shown_prefix(command.shown)
    if prefix and prefix not in said:
        problems.append(f"{command.page}: `{command.text}` printed no line starting {prefix!r}:\n{said[-1500:]}")
    return problems


def _python(code: str, page: str, project: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=_shell(project), capture_output=True,
                          text=True, timeout=600)
    return [f"{page}: its Python block starting {code.splitlines()[0]!r}: exit {done.returncode}\n"
            f"{done.stderr[-1500:]}"] if done.returncode else []


def test_every_command_and_python_block_on_the_pages_runs_as_written_from_a_fresh_studies_folder(tmp_path):
    project = _project(tmp_path)
    problems, ran = [], []
    for block in blocks():
        if block.language == "python":
            if not any(block.code.startswith(first) for first in RUNNABLE_PYTHON_SKIPPED):
                start = time.perf_counter()
                problems += _python(block.code, block.page, project)
                ran.append(f"{time.perf_counter() - start:5.1f} s  {block.page}: python")
            continue
        if block.language != "bash":
            continue
        for command in commands(block):
            if command.text in NOT_RUN or (command.text.startswith(NEEDS_MNIST) and not MNIST.is_dir()):
                continue
            start = time.perf_counter()
            problems += _check(command, project)
            ran.append(f"{time.perf_counter() - start:5.1f} s  {command.page}: {command.text}")
    print("\n".join(ran))  # the time of each (pytest -s shows it)
    assert not problems, "\n\n".join(problems)
    assert len(ran) >= 36, ran  # every page's blocks were walked (39 with real MNIST here)
    assert (project / "studies" / "demo" / "report.html").is_file()
    assert {"demo", "demo-2", "demo_r20", "demo_lamp", "demo_sam", "demo_search", "dimension-k40"} <= {
        p.name for p in (project / "studies").iterdir()}
