"""How far dense spectra predict the map: rank correlations and a cross-study threshold, on hand-made tables."""

import json
import math

import pandas as pd
import pytest

from analysis.spectra import (dense_by_temperature, fit_threshold, layer_alphas, predict_regime_one,
                              rank_correlations, spearman, spectra_lines)


def test_spearman_and_its_fisher_interval_by_hand():
    # Ranks equal the values; d = -1, 1, -1, 1, 0: rho = 1 - 6 x 4 / (5 x 24) = 0.8. z = atanh(0.8) = 1.0986,
    # half-width 1.96 x sqrt(1.06 / 2) = 1.4269: [tanh(-0.3283), tanh(2.5255)] = [-0.3170, 0.9873].
    rho, interval, n = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert n == 5 and rho == pytest.approx(0.8)
    assert interval == pytest.approx([-0.3170, 0.9873], abs=1e-4)
    assert math.isnan(spearman([1, 2, 3], [1, 3, 2])[1][0])  # 3 pairs: no interval
    assert all(math.isnan(v) for v in spearman([1, 2, 3, 4], [4, 3, 2, 1])[1])  # |rho| = 1: no Fisher interval


def _per_seed(alphas: dict, seeds=(0, 1), density=0.05):
    # Two dense seeds per temperature, alpha +- 0.1 around the given value (mean = value, SE = 0.1).
    return pd.DataFrame([{"temperature": t, "dense_seed": s, "density": density, "dense_alpha": a + (0.1 if s else -0.1),
                          "spectra_layers": json.dumps({"dense": {"0.weight": {"alpha": a}, "3.weight": {"alpha": a + 1}},
                                                        "pruned": {}})}
                         for t, a in alphas.items() for s in seeds])


def _cells(regimes: dict, density=0.05, accs=None):
    return pd.DataFrame([{"temperature": t, "density": density, "regime": r, "status": "ok",
                          "test_acc": (accs or {}).get(t, 0.5), "lmc": 0.0} for t, r in regimes.items()])


def test_dense_alpha_per_temperature_and_per_layer():
    per_seed = _per_seed({1: 2.0, 2: 3.0})
    table = dense_by_temperature(per_seed)
    assert table["mean"].tolist() == pytest.approx([2.0, 3.0]) and table["n"].tolist() == [2, 2]
    assert table["se"].tolist() == pytest.approx([0.1, 0.1])  # sd 0.1414 / sqrt(2)
    layers = layer_alphas(per_seed)
    assert layers.index.tolist() == ["0", "3"] and layers.loc["3", 2] == pytest.approx(4.0)


def test_a_threshold_fitted_on_one_study_scored_on_another_against_the_base_rate():
    assert fit_threshold([1, 2, 3, 4], [False, False, True, True]) == {"threshold": 2.5, "side": "above",
                                                                       "agreement": 1.0}
    train = (_per_seed({1: 2.0, 2: 2.5, 3: 3.5, 4: 4.0}), _cells({1: "II-B", 2: "II-A", 3: "I", 4: "I"}))
    # Fitted: Regime I above 3.0. On the other study, predicted I at 3.2, 3.8, 4.5; measured I at 3.2 and 3.8
    # only: 4 of 5 agree. Its I share is 2 / 5, so always answering II agrees with 3 of 5 (the base rate).
    test = (_per_seed({1: 2.2, 2: 3.2, 3: 3.8, 4: 4.5, 5: 2.9}),
            _cells({1: "II-B", 2: "I", 3: "I", 4: "II-B", 5: "II-A", 6: "I?"}))
    p = predict_regime_one(train, test)
    assert (p["threshold"], p["side"], p["train_agreement"]) == (3.0, "above", 1.0)
    assert (p["n"], p["agreement"], p["base_rate"]) == (5, 0.8, 0.6)  # the uncertain I? cell is left out
    assert p["beats_base"] and not p["clearly_beats_base"]  # 5 cells: the intervals overlap
    line = spectra_lines([{"density": 0.05, "metric": "alpha", "rho_test_acc": 0.8, "rho_test_acc_ci": [-0.3, 0.99],
                           "rho_mc": math.nan, "rho_mc_ci": [math.nan, math.nan], "n": 5}], [p], trained_on="A")
    assert "agrees with 80%" in line[-1] and "base rate (always the more common call) 60%" in line[-1]
    assert "the dense spectra predict nothing of this map" in line[-2]  # no interval excludes 0


def test_rank_correlations_per_density_against_accuracy_and_mc():
    per_seed = _per_seed({1: 2.0, 2: 2.5, 3: 3.0, 4: 3.5, 5: 4.0})
    cells = _cells({t: "II-B" for t in range(1, 6)}, accs={1: 0.9, 2: 0.8, 3: 0.85, 4: 0.6, 5: 0.5})
    (row,) = rank_correlations(per_seed, cells, metrics=("alpha",))
    # Accuracy ranks 5, 3, 4, 2, 1 against alpha ranks 1..5: d = -4, -1, -1, 2, 4, sum d^2 = 38, rho = 1 - 228/120.
    assert row["rho_test_acc"] == pytest.approx(1 - 6 * 38 / 120)
    assert math.isnan(row["rho_mc"])  # mc is constant: no correlation
