"""A screened study end to end through `regimes run`: the screen, the decision, the full stage, Ctrl-C and resume."""

import json
import signal

import pytest

from analysis import open_study, read_study
from tests.conftest import ROOT
from tests.helpers import driver_at, regimes

# The tiny study with 2 dense seeds (standard errors to rule out by), 4 retraining epochs, a screen of 1.
ARGS = ["--set", "study.dense_seeds=[0, 1]", "--set", "retrain.epochs=4", "--set", "retrain.milestones=[3]",
        "--set", "study.screen_epochs=1"]


@pytest.mark.slow
def test_a_screened_study_interrupted_and_resumed_spends_the_full_budget_only_where_the_screen_kept_cells(tmp_path):
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), *ARGS]
    first = driver_at(args, tmp_path, cells="cells 1/8")  # Ctrl-C during the screen, after its first cell
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert first.returncode == 1
    study = tmp_path / "tiny"
    assert not (study / "regimes_manifest.json").exists()  # nothing decided before the screen has finished
    again = regimes(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    screen, full = read_study(study / "screen"), read_study(study)
    assert len(screen.cells) == 8 and set(screen.cells["retrain_epochs"]) == {1}
    owes = json.loads((study / "regimes_manifest.json").read_text())["owes"]
    owed = {(t, s, d) for t, s, densities in owes for d in densities}
    # The full stage computed exactly what the screen kept, each once, at the full budget, on the same
    # dense models (read from the cache: no dense training of its own).
    got = {(r.temperature, r.dense_seed, r.density) for r in full.cells.itertuples()}
    assert got == owed and len(full.cells) == len(owed) and set(full.cells["retrain_epochs"]) == {4}
    assert full.cells["seconds_dense"].sum() == 0
    dense = screen.cells.groupby(["temperature", "dense_seed"])["dense_test_acc"].first()
    for r in full.cells.itertuples():
        assert r.dense_test_acc == dense[(r.temperature, r.dense_seed)]
    assert f"screen done: {len(owed)} of its 8 cells kept" in again.stderr
    # Every temperature the screen kept at a density is trained with every dense seed.
    per_point = {(t, d) for t, _, d in owed}
    assert len(owed) == 2 * len(per_point)
    # Running it once more recomputes nothing and changes no decision.
    third = regimes(*args, cwd=tmp_path)
    assert third.returncode == 0 and json.loads((study / "regimes_manifest.json").read_text())["owes"] == owes
    assert len(read_study(study).cells) == len(owed)
    status = regimes("status", str(study), cwd=tmp_path).stdout.splitlines()
    assert "screen retraining" in status[-2] and status[-1].startswith(f"cells {len(owed)}/{len(owed)}")
    report = open_study(study).report(tmp_path / "r.html").read_text()
    if len(per_point) < 4:  # cells the screen ruled out are drawn faded, with their own legend entry
        assert "ruled out by the screen" in report


def test_a_screen_not_shorter_than_the_full_budget_or_without_lmc_is_one_line_before_ray(tmp_path):
    for extra, fragment in ((["--set", "study.screen_epochs=2"], "is not shorter than the full retraining budget"),
                            (["--set", "study.screen_epochs=1", "--set", "metrics.cka=false"],
                             "the screen tells the regimes apart by mc and CKA")):
        result = regimes("run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), *extra, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr
        assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_screen_on_a_search_with_seeds_added_retrains_only_what_the_screen_trained_and_kept(tmp_path):
    # The levers together (configs/demo_fast.yaml's shape): the search chooses temperatures and the
    # seed rule adds seeds, both at the screen's budget; the full stage retrains the kept cells of
    # exactly the (temperature, seed) trials the screen ran, on their dense models.
    args = ["run", str(ROOT / "configs/tiny.yaml"), "--storage", str(tmp_path), *ARGS, "--set", "study.search=regimes",
            "--set", "study.temperatures=[1, 2, 3, 4]", "--set", "seeds.max_seeds=3"]
    done = regimes(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    study = tmp_path / "tiny"
    screen, full = read_study(study / "screen"), read_study(study)
    trained = set(map(tuple, screen.cells[["temperature", "dense_seed"]].to_numpy().tolist()))
    seeds = screen.cells.groupby("temperature")["dense_seed"].unique()
    assert all(sorted(s) in ([0, 1], [0, 1, 2]) for s in seeds)  # the first two seeds, and a third where added
    owes = json.loads((study / "regimes_manifest.json").read_text())["owes"]
    assert owes and {(t, s) for t, s, _ in owes} <= trained
    got = {(r.temperature, r.dense_seed, r.density) for r in full.cells.itertuples()}
    assert got == {(t, s, d) for t, s, densities in owes for d in densities}
    assert set(full.cells["retrain_epochs"]) == {4} and full.cells["seconds_dense"].sum() == 0
    # Every seed the screen trained at a kept temperature is retrained there: none left out, none made up.
    for t, _, densities in owes:
        assert {s for tt, s, _ in owes if tt == t} == set(seeds[t])
    assert done.stderr.strip().splitlines()[-1] == f"study complete: {study}"
