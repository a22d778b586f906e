"""Prune potential and prunability per temperature, on the clean and on perturbed test sets.

Prune potential (Liebenwein et al. 2021): the lowest density a dense model can be pruned to while
the pruned model's test accuracy stays within `margin_points` accuracy points of the dense
model's own. "Stays": walking down the study's densities from the highest, the potential is the
last density before the first one that falls out of the margin (a diverged cell falls out), so a
lucky cell below a failed one does not count; when even the highest density fails it is 1.0
(nothing can be pruned within the margin). On a perturbed test set (`metrics.beyond_accuracy`:
noise{level}, contrast, brightness, blur) both accuracies are on that set. Prunability ("The
Effect of Data Dimensionality on Neural Network Prunability") is the fraction of weights that can
go: 1 - prune potential on the clean test set.

Computed per dense seed (the independent unit), then the mean and its standard error over seeds
(NaN with one seed). Pure functions of the per-seed cell table (`read_study(...).cells`).
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.uncertainty import standard_error
from contract.row import PERTURBED_KEY

DEFAULT_MARGIN_POINTS = 0.5


def scored_sets(cells: pd.DataFrame) -> list[str]:
    """Return "clean" and the perturbed test sets the cells were scored on (in the order of their columns)."""
    names = [PERTURBED_KEY.match(c).group(1) for c in cells.columns if PERTURBED_KEY.match(c)]
    return ["clean"] + [n for n in names if f"dense_test_acc_{n}" in cells.columns]


def lowest_density_within(densities: list[float], accuracies: list[float], dense_acc: float, *,
                          margin_points: float) -> float:
    """Return the prune potential of one dense model: the lowest density before the first that leaves the margin.

    Args:
        densities: the densities pruned to (any order).
        accuracies: the pruned models' test accuracy at each, 0-1 (NaN: diverged, out of the margin).
        dense_acc: the dense model's test accuracy on the same test set, 0-1.
        margin_points: how far below the dense accuracy still counts as within, in accuracy points (0-100 scale).
    """
    floor = dense_acc - margin_points / 100
    potential = 1.0
    for density, acc in sorted(zip(densities, accuracies, strict=True), reverse=True):
        if not (math.isfinite(acc) and acc >= floor - 1e-12):
            break
        potential = density
    return potential


def prune_potential(cells: pd.DataFrame, *, margin_points: float = DEFAULT_MARGIN_POINTS) -> pd.DataFrame:
    """Return the prune potential per (temperature, test set): mean over dense seeds and its standard error.

    Args:
        cells: per-seed cells: temperature, dense_seed, density, test_acc, dense_test_acc, and for
            each perturbed set test_acc_{set} and dense_test_acc_{set}.
        margin_points: the margin, in accuracy points.

    Returns:
        Columns temperature, test_set, prune_potential (density, 0-1), prune_potential_se,
        prunability (1 - prune_potential), n_seeds, margin_points; a temperature whose dense model
        diverged is left out.
    """
    rows = []
    seeds = cells["dense_seed"] if "dense_seed" in cells.columns else pd.Series(0, index=cells.index)
    for test_set in scored_sets(cells):
        acc, dense = ("test_acc", "dense_test_acc") if test_set == "clean" else \
            (f"test_acc_{test_set}", f"dense_test_acc_{test_set}")
        for temperature, at in cells.assign(_seed=seeds).groupby("temperature"):
            values = []
            for _, one in at.groupby("_seed"):
                dense_acc = float(one[dense].iloc[0])
                if math.isfinite(dense_acc):
                    values.append(lowest_density_within(one["density"].astype(float).tolist(),
                                                        one[acc].astype(float).tolist(), dense_acc,
                                                        margin_points=margin_points))
            if not values:
                continue
            series = pd.Series(values, dtype=float)
            se = standard_error(series)
            rows.append({"temperature": float(temperature), "test_set": test_set,
                         "prune_potential": float(series.mean()), "prune_potential_se": se,
                         "prunability": 1.0 - float(series.mean()), "n_seeds": len(series),
                         "margin_points": margin_points})
    columns = ["temperature", "test_set", "prune_potential", "prune_potential_se", "prunability", "n_seeds",
               "margin_points"]
    return pd.DataFrame(rows, columns=columns)
