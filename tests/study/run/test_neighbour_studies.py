"""The three neighbouring studies switched on together, end to end through Ray, read back and compared."""

import math

import pytest

from tests.conftest import ROOT


def test_a_dimension_larger_than_the_data_is_one_line_before_ray(tmp_path):
    from study.config import ConfigError, load_config

    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/tiny.yaml", {"study.storage": str(tmp_path), "data.intrinsic_dim": 33})
    assert err.value.problems == [f"{ROOT / 'configs/tiny.yaml'}: data.intrinsic_dim: 33 is more than the 32 input "
                                  "features of synthetic; use 1 to 32"]


@pytest.mark.slow
def test_scratch_control_beyond_accuracy_and_reduced_dimension_in_one_study(ray_cluster, tiny_study, tmp_path, capsys):
    from analysis import read_study
    from study.cli import main
    from study.config import load_config
    from study.run.launch import run_study

    config = load_config(ROOT / "configs/tiny.yaml", {
        "study.storage": str(tmp_path), "study.name": "neighbours", "controls.scratch": True,
        "controls.scratch_copies": 2, "metrics.beyond_accuracy": True, "metrics.noise_levels": [0, 1],
        "data.intrinsic_dim": 8})
    outcome = run_study(config)
    assert outcome.complete
    cells = read_study(outcome.path).cells
    assert len(cells) == 4 and (cells["status"] == "ok").all()
    # Two scratch copies per cell from recorded seeds (dense seed 0: 7,000,001 and 7,000,002).
    assert set(cells["scratch_seeds"]) == {"7000001 7000002"}
    assert (cells["inherit_gain"] - (cells["test_acc"] - cells["scratch_test_acc"])).abs().max() < 1e-12
    assert cells["agreement_dense"].between(0, 1).all()
    # Noise at level 0 is the clean test set: the dense model's accuracy there is its clean accuracy.
    assert (cells["dense_test_acc_noise0"] == cells["dense_test_acc"]).all()
    assert cells[["test_acc_noise1", "dense_test_acc_noise1"]].notna().all().all()
    # One dense model per trial: its noisy accuracy is the same on each of its rows.
    assert (cells.groupby("trial_id")["dense_test_acc_noise1"].nunique() == 1).all()
    assert set(cells["intrinsic_dim"]) == {8} and cells["pca_variance_kept"].between(0, 1).all()

    assert main(["report", outcome.path]) == 0
    page = (tmp_path / "neighbours" / "report.html").read_text()
    assert "Inherit gain" in page and "<h2>Prune potential</h2>" in page and "noise1" in page
    capsys.readouterr()
    _, clean = tiny_study
    assert main(["compare", clean.path, outcome.path, "--html", str(tmp_path / "compare.html")]) == 0
    printed = capsys.readouterr().out
    kept = cells["pca_variance_kept"].iloc[0]
    assert "clean" in printed and f"neighbours (k=8, {kept:.0%} var)" in printed and "I/II boundary" in printed
    assert (tmp_path / "compare.html").stat().st_size > 100_000  # plotly.js inline: opens offline
    assert not math.isnan(kept)
