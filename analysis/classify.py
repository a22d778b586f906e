"""Regimes of the three-regime model (DESIGN.md 2.5): pure functions on cell tables.

Regime I: mc < mc_threshold (a loss barrier between retrained copies; train hotter).
Regime II (mc >= mc_threshold) splits by CKA relative to the same density: II-B when the cell's CKA
is within cka_eps of the highest CKA among Regime-II cells of that density (near optimal), else
II-A (train colder). Diverged cells, or cells missing LMC or CKA, get regime "n/a".
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from analysis.uncertainty import BOUNDARY, UNRESOLVED, cell_standard_errors, mc_call, standard_error
from contract.knobs import hot_to_cold
from contract.row import PERTURBED_KEY

REGIMES = ("I", "II-A", "II-B", *UNRESOLVED, BOUNDARY)
METRICS = ["dense_test_acc", "test_acc", "train_err", "lmc", "cka"]
# Measured when a study switches them on (controls.scratch, metrics.beyond_accuracy, data.validation): averaged
# over seeds like the others, with a standard error over seeds (NaN with one seed).
OPTIONAL_METRICS = ["scratch_test_acc", "inherit_gain", "agreement_dense", "val_acc", "dense_val_acc", "dense_alpha",
                    "dense_alpha_hat", "dense_stable_rank", "dense_log_spectral_norm", "pruned_alpha"]
__all__ = ["REGIMES", "aggregate", "classify", "hot_to_cold", "regime_counts"]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (knob, temperature, density): means over ok dense seeds and their standard errors.

    Columns: the metrics' means, `*_seed_std`, `n_seeds`, and `test_acc_se`, `lmc_se`, `cka_se`
    with their `se_basis` (see `analysis.uncertainty`); when measured, the from-scratch control and
    the perturbed-set accuracies, with `scratch_test_acc_se`, `inherit_gain_se` and
    `agreement_dense_se` over seeds. Diverged cells are left out of the means;
    a cell with no ok seed keeps status "diverged".
    """
    keys = [k for k in ("knob", "temperature", "density") if k in df.columns]
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    perturbed = [c for c in df.columns if PERTURBED_KEY.match(c.removeprefix("dense_"))]
    optional = [m for m in OPTIONAL_METRICS if m in df.columns] + perturbed
    metrics = [m for m in METRICS if m in df.columns] + optional
    grouped = ok.groupby(keys)[metrics]
    out = grouped.mean().join(grouped.std(ddof=0).add_suffix("_seed_std"))
    for metric in [m for m in OPTIONAL_METRICS if m in df.columns]:
        out[f"{metric}_se"] = ok.groupby(keys)[metric].agg(standard_error)
    out["n_seeds"] = ok.groupby(keys).size()
    out = out.reset_index()
    if len(ok) and {"test_acc", "lmc", "cka"} <= set(ok.columns):
        out = out.merge(cell_standard_errors(ok, keys), on=keys, how="left")
    every = df[keys].drop_duplicates()
    out = every.merge(out, on=keys, how="left")
    out["n_seeds"] = out["n_seeds"].fillna(0).astype(int)
    out["status"] = np.where(out["n_seeds"] > 0, "ok", "diverged")
    return out.sort_values(keys, ignore_index=True)


def classify(df: pd.DataFrame, *, mc_threshold: float, cka_eps: float, confidence: float,
             margin: float = 0.0) -> pd.DataFrame:
    """Return a copy of `df` with `regime`, `normalized_test_err` and the thresholds used.

    Args:
        df: cells with columns temperature, density, test_acc (0-1), lmc (mc, training-error
            scale), cka (0-1); optionally knob and status.
        mc_threshold: Regime I below this mc.
        cka_eps: II-B within this CKA of the density's best Regime-II CKA.
        confidence: a cell is called I or II only when its mc is beyond the threshold by more
            than this many standard errors (`lmc_se`; a missing or NaN SE is uncertain);
            otherwise "I?" or "II?". 0 applies the rule to the point estimates alone.
        margin: an uncertain cell whose mc interval lies within this of the threshold is "I|II",
            at the boundary (`contract.seeds`); 0: none is.

    Returns:
        The cells plus `regime` ("I", "II-A", "II-B", "I?", "II?", "I|II" or "n/a"), `regime_point` (the
        call of the point estimates, without "?"), `normalized_test_err` (test error minus the
        lowest test error at the same density, 0-1), `mc_threshold`, `cka_eps` and `confidence`.
    """
    out = df.copy()
    usable = out["lmc"].notna() & out["cka"].notna() & out["test_acc"].notna()
    if "status" in out.columns:
        usable &= out["status"] == "ok"
    regime_two = usable & (out["lmc"] >= mc_threshold)
    best_cka = out["cka"].where(regime_two).groupby(out["density"]).transform("max")
    out["regime"] = "n/a"
    out.loc[usable & (out["lmc"] < mc_threshold), "regime"] = "I"
    out.loc[regime_two, "regime"] = np.where(out.loc[regime_two, "cka"] >= best_cka[regime_two] - cka_eps,
                                             "II-B", "II-A")
    out["regime_point"] = out["regime"]
    se = out["lmc_se"] if "lmc_se" in out.columns else pd.Series(np.nan, index=out.index)
    calls = [mc_call(m, s, mc_threshold=mc_threshold, confidence=confidence, margin=margin) if ok else "n/a"
             for m, s, ok in zip(out["lmc"], se.astype(float), usable, strict=True)]
    uncertain = np.array([c in (*UNRESOLVED, BOUNDARY) for c in calls])
    out.loc[uncertain, "regime"] = np.array(calls, dtype=object)[uncertain]
    test_err = (1 - out["test_acc"]).where(usable)
    out["normalized_test_err"] = test_err - test_err.groupby(out["density"]).transform("min")
    out["mc_threshold"] = mc_threshold
    out["cka_eps"] = cka_eps
    out["confidence"] = confidence
    out["margin"] = margin
    out.attrs.update(mc_threshold=mc_threshold, cka_eps=cka_eps, confidence=confidence, margin=margin)
    return out


def regime_counts(df: pd.DataFrame) -> dict[str, int]:
    """Return the number of cells per regime of a classified table, "n/a" included when present."""
    counts = df["regime"].value_counts()
    keys = [r for r in REGIMES if r in counts or r in ("I", "II-A", "II-B")] + (["n/a"] if "n/a" in counts else [])
    return {k: int(counts.get(k, 0)) for k in keys}


def map_lines(cells: pd.DataFrame, *, knob: str, temperatures: list[float], densities: list[float]) -> list[str]:
    """Return the regime map as text: one row per temperature (hottest first), one column per density.

    A cell not reported yet is ".", so a study's map can be watched filling in; `cells` is a
    classified table (one row per temperature and density).
    """
    from contract.knobs import hot_to_cold

    called = {(round(float(r.temperature), 12), round(float(r.density), 12)): str(r.regime)
              for r in cells.itertuples()}
    width = max([len(f"{knob} {t:g}") for t in temperatures] + [4])
    lines = [" " * width + "  " + "".join(f"{d:>7g}" for d in sorted(densities))]
    for t in hot_to_cold(knob, temperatures):
        row = [called.get((round(float(t), 12), round(float(d), 12)), ".") for d in sorted(densities)]
        lines.append(f"{f'{knob} {t:g}':>{width}}  " + "".join(f"{label:>7}" for label in row))
    return lines
