"""Prune potential, prunability and the comparison of studies, on hand-made tables."""

import math

import pandas as pd
import pytest

from analysis.classified import ClassifiedStudy
from analysis.classify import aggregate, classify
from analysis.compare import compare, comparison_lines, hottest_regime_one
from analysis.load import Study
from analysis.prunability import lowest_density_within, prune_potential, scored_sets
from analysis.report import write_report
from contract.config import StudyConfig


def test_the_potential_is_the_lowest_density_before_the_first_that_leaves_the_margin():
    densities = [0.02, 0.05, 0.1, 0.5]
    # dense 0.900, margin 0.5 points -> floor 0.895: 0.5, 0.1, 0.05 are within, 0.02 is not.
    assert lowest_density_within(densities, [0.80, 0.897, 0.899, 0.91], 0.900, margin_points=0.5) == 0.05
    # A lucky 0.02 below a failed 0.05 does not count: walking down stops at 0.05.
    assert lowest_density_within(densities, [0.899, 0.80, 0.90, 0.90], 0.900, margin_points=0.5) == 0.1
    # Nothing within the margin: no pruning (density 1); all within: the lowest density.
    assert lowest_density_within(densities, [0.5, 0.5, 0.5, 0.5], 0.900, margin_points=0.5) == 1.0
    assert lowest_density_within(densities, [0.9] * 4, 0.900, margin_points=0.5) == 0.02
    # A diverged cell (NaN) is out of the margin; a wider margin lets 0.02 in.
    assert lowest_density_within(densities, [0.9, math.nan, 0.9, 0.9], 0.900, margin_points=0.5) == 0.1
    assert lowest_density_within(densities, [0.80, 0.897, 0.899, 0.91], 0.900, margin_points=10) == 0.02


def _cells() -> pd.DataFrame:
    # Two dense seeds at two temperatures; a noisy test set where the pruned models fall off sooner.
    rows = []
    table = {  # (temperature, seed): (dense clean, clean accs at 0.02/0.05/0.5, dense noisy, noisy accs)
        (0.1, 0): (0.90, [0.85, 0.898, 0.90], 0.70, [0.60, 0.65, 0.70]),
        (0.1, 1): (0.92, [0.919, 0.92, 0.93], 0.72, [0.60, 0.72, 0.72]),
        (0.01, 0): (0.90, [0.70, 0.80, 0.90], 0.70, [0.50, 0.60, 0.69]),
        (0.01, 1): (0.90, [0.70, 0.80, 0.80], 0.70, [0.50, 0.60, 0.60]),
    }
    for (t, seed), (dense, accs, dense_noisy, noisy) in table.items():
        for d, a, n in zip([0.02, 0.05, 0.5], accs, noisy, strict=True):
            rows.append({"knob": "lr", "temperature": t, "dense_seed": seed, "density": d, "test_acc": a,
                         "dense_test_acc": dense, "test_acc_noise1": n, "dense_test_acc_noise1": dense_noisy,
                         "status": "ok"})
    return pd.DataFrame(rows)


def test_prune_potential_per_temperature_and_test_set_is_the_mean_over_seeds_with_its_se():
    cells = _cells()
    assert scored_sets(cells) == ["clean", "noise1"]
    got = prune_potential(cells, margin_points=0.5).set_index(["temperature", "test_set"])
    # lr 0.1 clean: seed 0 -> 0.05 (0.85 < 0.895), seed 1 -> 0.02; mean 0.035, SE = |0.05-0.02|/2 = 0.015.
    assert got.loc[(0.1, "clean"), "prune_potential"] == pytest.approx(0.035)
    assert got.loc[(0.1, "clean"), "prune_potential_se"] == pytest.approx(0.015)
    assert got.loc[(0.1, "clean"), "prunability"] == pytest.approx(0.965)
    # lr 0.1 noisy: seed 0 -> 0.5 (0.65 < 0.695), seed 1 -> 0.05: off-distribution it prunes less far.
    assert got.loc[(0.1, "noise1"), "prune_potential"] == pytest.approx(0.275)
    # lr 0.01 clean: seed 0 -> 0.5, seed 1 -> 1.0 (0.80 at 0.5 is already out); noisy: both out at 0.5
    # (0.69 < 0.695 and 0.60), so 1.0: nothing prunes within the margin off-distribution.
    assert got.loc[(0.01, "clean"), "prune_potential"] == pytest.approx(0.75)
    assert got.loc[(0.01, "noise1"), "prune_potential"] == 1.0
    assert set(got["n_seeds"]) == {2}


def _classified(cells: pd.DataFrame, lmc: dict, name: str, k=None) -> ClassifiedStudy:
    raw = cells.assign(lmc=[lmc[(t, d)] for t, d in zip(cells["temperature"], cells["density"], strict=True)],
                       cka=0.9, train_err=0.1, pca_variance_kept=0.8 if k else math.nan)
    config = StudyConfig.model_validate({"study": {"name": name}, "data": {"intrinsic_dim": k} if k else {}})
    table = classify(aggregate(raw), mc_threshold=-0.1, cka_eps=0.005, confidence=0)
    return ClassifiedStudy(Study(name, raw, pd.DataFrame(), config), table, -0.1, 0.005, 0.0)


def test_compare_puts_prunability_and_the_hottest_regime_one_temperature_side_by_side():
    cells = _cells()
    barriers = {(0.1, 0.02): -0.3, (0.1, 0.05): 0.0, (0.1, 0.5): 0.0,
                (0.01, 0.02): -0.3, (0.01, 0.05): -0.2, (0.01, 0.5): 0.0}
    one = _classified(cells, barriers, "dim5", k=5)
    flat = _classified(cells, dict.fromkeys(barriers, 0.0), "full")
    bounds = hottest_regime_one(one.cells).set_index("density")["temperature"]
    # Regime I at 0.02 for both learning rates (hottest 0.1), at 0.05 only for 0.01, none at 0.5.
    assert bounds[0.02] == 0.1 and bounds[0.05] == 0.01 and math.isnan(bounds[0.5])
    result = compare([one, flat], margin_points=0.5)
    assert result["labels"] == ["dim5 (k=5, 80% var)", "full"]
    p = result["prunability"].set_index(["study", "temperature"])["prunability"]
    assert p[("full", 0.1)] == pytest.approx(0.965) and p[("dim5 (k=5, 80% var)", 0.01)] == pytest.approx(0.25)
    text = "\n".join(comparison_lines(result))
    assert "0.965 +- 0.015" in text and "none" in text
    with pytest.raises(ValueError, match="different knobs"):
        compare([one, _classified(cells.assign(knob="epochs"), barriers, "other")])


def test_the_report_shows_inherit_gain_agreement_and_prune_potential(tmp_path):
    cells = _cells().assign(lmc=0.0, cka=0.9, train_err=0.1, scratch_test_acc=0.5, agreement_dense=0.95)
    cells["inherit_gain"] = cells["test_acc"] - cells["scratch_test_acc"]
    table = classify(aggregate(cells), mc_threshold=-0.1, cka_eps=0.005, confidence=2)
    # Two seeds: the gain's standard error is over seeds (lr 0.1, 0.02: gains 0.35 and 0.419).
    at = table.set_index(["temperature", "density"]).loc[(0.1, 0.02)]
    assert at["inherit_gain"] == pytest.approx(0.3845)
    assert at["inherit_gain_se"] == pytest.approx(pd.Series([0.35, 0.419]).std() / math.sqrt(2))
    page = write_report(table, None, tmp_path / "r.html", title="t", potential=prune_potential(cells)).read_text()
    assert "Inherit gain" in page and "Agreement with the dense model" in page
    assert "<h2>Prune potential</h2>" in page and "0.035 &plusmn; 0.015" in page
