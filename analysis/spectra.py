"""How far the dense models' spectra predict the regime map, without retraining: pure functions on cell tables.

The spectral metrics of every dense model (`trainables.method.spectra`: the layer mean of the
heavy-tail exponent alpha, alpha-hat, stable rank, log spectral norm) cost a fraction of a
second; the map costs the retraining. Two questions, answered on a study's own cells:

- **Rank correlation.** Per density, Spearman's rho over temperatures between a dense metric
  (the temperature's mean over dense seeds) and the pruned test accuracy, and between it and mc;
  95 % intervals by Fisher's z with the variance 1.06 / (n - 3) of Fieller, Hartley & Pearson
  (1957) for Spearman's rho (n temperatures; no interval below 4).
- **Cross-study prediction.** A one-threshold rule "Regime I where the dense metric is above
  (or below) t", fitted on one study's sure calls (I against II-A and II-B; uncertain and n/a
  cells left out) by the largest agreement, then scored on another study's sure calls: its
  agreement with the measured map against the base rate (always answering the other study's
  more common call), with Wilson intervals. A rule that does not beat the base rate predicts
  nothing, and the lines say so.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from analysis.uncertainty import standard_error
from analysis.validate import wilson_interval

DENSE_METRICS = ("alpha", "alpha_hat", "stable_rank", "log_spectral_norm")
Z95 = 1.959964


def has_spectra(cells: pd.DataFrame) -> bool:
    """Return True when the cells carry the dense models' spectral metrics (metrics.spectra)."""
    return "dense_alpha" in cells.columns and bool(cells["dense_alpha"].notna().any())


def dense_by_temperature(per_seed: pd.DataFrame, metric: str = "alpha") -> pd.DataFrame:
    """Return temperature, mean, se, n of dense metric `metric` over dense seeds (one value per dense model)."""
    col = f"dense_{metric}"
    models = per_seed.dropna(subset=[col]).drop_duplicates(["temperature", "dense_seed"])
    grouped = models.groupby("temperature")[col]
    return pd.DataFrame({"mean": grouped.mean(), "n": grouped.count(), "se": grouped.agg(standard_error)}).reset_index()


def layer_alphas(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Return a layer x temperature table of the dense alpha, mean over dense seeds (empty without spectra)."""
    if "spectra_layers" not in per_seed.columns:
        return pd.DataFrame()
    rows = []
    for _, cell in per_seed.drop_duplicates(["temperature", "dense_seed"]).iterrows():
        text = cell["spectra_layers"]
        if not isinstance(text, str) or not text:
            continue
        for layer, values in json.loads(text)["dense"].items():
            rows.append({"layer": layer.removesuffix(".weight"), "temperature": cell["temperature"],
                         "alpha": values["alpha"]})
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows).groupby(["layer", "temperature"])["alpha"].mean().unstack("temperature")
    order = list(dict.fromkeys(r["layer"] for r in rows))  # model order
    return table.loc[order]


def spearman(x, y) -> tuple[float, list[float], int]:
    """Return (Spearman's rho, its 95 % Fisher-z interval, n) of paired finite values; NaN below 3 pairs."""
    pairs = pd.DataFrame({"x": x, "y": y}).replace([np.inf, -np.inf], np.nan).dropna()
    n = len(pairs)
    if n < 3 or pairs["x"].nunique() < 2 or pairs["y"].nunique() < 2:
        return math.nan, [math.nan, math.nan], n
    rho = float(pairs["x"].rank().corr(pairs["y"].rank()))
    if n < 4 or abs(rho) >= 1:  # Fisher's z is infinite at |rho| = 1: no interval
        return rho, [math.nan, math.nan], n
    z, half = math.atanh(rho), Z95 * math.sqrt(1.06 / (n - 3))
    return rho, [math.tanh(z - half), math.tanh(z + half)], n


def rank_correlations(per_seed: pd.DataFrame, cells: pd.DataFrame, metrics=DENSE_METRICS) -> list[dict]:
    """Return per density and dense metric Spearman's rho (with interval) against test accuracy and against mc."""
    out = []
    for metric in metrics:
        if f"dense_{metric}" not in per_seed.columns:
            continue
        gauge = dense_by_temperature(per_seed, metric).set_index("temperature")["mean"]
        for density, at in cells[cells["status"] == "ok"].groupby("density"):
            at = at.set_index("temperature")
            x = gauge.reindex(at.index)
            row = {"density": float(density), "metric": metric}
            for target, key in (("test_acc", "test_acc"), ("mc", "lmc")):
                rho, interval, n = spearman(x.values, at[key].values)
                row |= {f"rho_{target}": rho, f"rho_{target}_ci": interval, "n": n}
            out.append(row)
    return out


def _sure_calls(per_seed: pd.DataFrame, cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    gauge = dense_by_temperature(per_seed, metric).set_index("temperature")["mean"]
    sure = cells[cells["regime"].isin(["I", "II-A", "II-B"])].copy()
    sure["x"] = gauge.reindex(sure["temperature"]).values
    sure["regime_one"] = sure["regime"] == "I"
    return sure.dropna(subset=["x"])


def fit_threshold(x, regime_one) -> dict:
    """Return the one-threshold rule (threshold, side "above"/"below") agreeing most with `regime_one` on `x`.

    Candidates are the midpoints between consecutive distinct values and both ends (always
    answering one call); ties keep the first found, scanning thresholds upwards, "above" first.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(regime_one, dtype=bool)
    values = np.unique(x)
    cuts = np.concatenate([[values[0] - 1], (values[:-1] + values[1:]) / 2, [values[-1] + 1]])
    best = {"threshold": math.nan, "side": "above", "agreement": -1.0}
    for t in cuts:
        for side in ("above", "below"):
            predicted = x > t if side == "above" else x < t
            agreement = float(np.mean(predicted == y))
            if agreement > best["agreement"]:
                best = {"threshold": float(t), "side": side, "agreement": agreement}
    return best


def predict_regime_one(train: tuple[pd.DataFrame, pd.DataFrame], test: tuple[pd.DataFrame, pd.DataFrame], *,
                       metric: str = "alpha") -> dict:
    """Fit the one-threshold rule for Regime I on `train` (per-seed cells, classified cells) and score it on `test`.

    Returns threshold, side, agreement on train; on test: n (sure calls), agreement and its
    Wilson interval, base_rate (the more common call's share) and its interval, and `beats_base`.
    """
    fitted_on, scored_on = _sure_calls(*train, metric), _sure_calls(*test, metric)
    if fitted_on.empty or scored_on.empty:
        return {"metric": metric, "n": len(scored_on), "agreement": math.nan, "base_rate": math.nan,
                "beats_base": False, "why": "no sure calls with spectral metrics in one of the studies"}
    rule = fit_threshold(fitted_on["x"], fitted_on["regime_one"])
    x, y = scored_on["x"].to_numpy(), scored_on["regime_one"].to_numpy()
    predicted = x > rule["threshold"] if rule["side"] == "above" else x < rule["threshold"]
    hits, n = int(np.sum(predicted == y)), len(y)
    base_hits = int(max(y.sum(), n - y.sum()))
    low, _ = wilson_interval(hits, n)
    _, base_high = wilson_interval(base_hits, n)
    return {"metric": metric, "threshold": rule["threshold"], "side": rule["side"],
            "train_agreement": rule["agreement"], "n_train": len(fitted_on), "n": n, "agreement": hits / n,
            "agreement_ci": wilson_interval(hits, n), "base_rate": base_hits / n,
            "base_rate_ci": wilson_interval(base_hits, n), "regime_one_share": float(y.mean()),
            "beats_base": hits > base_hits, "clearly_beats_base": low > base_high}


def spectra_lines(correlations: list[dict], predictions: list[dict] | None = None, *,
                  trained_on: str = "") -> list[str]:
    """Return the `regimes validate` section on the dense spectra: correlations, then the cross-study prediction."""
    if not correlations:
        return ["dense spectra: none in this study (metrics.spectra was off, or the study predates it)"]
    lines = ["dense spectra against the map (Spearman's rho over temperatures, 95 % interval):",
             f"  {'density':>8} {'metric':<18} {'vs test accuracy':>24} {'vs mc':>24} {'n':>3}"]
    for row in correlations:
        lines.append(f"  {row['density']:>8g} {row['metric']:<18} {_rho(row['rho_test_acc'], row['rho_test_acc_ci'])}"
                     f" {_rho(row['rho_mc'], row['rho_mc_ci'])} {row['n']:>3}")
    clear = [r for r in correlations for k in ("test_acc", "mc") if _excludes_zero(r[f"rho_{k}_ci"])]
    perfect = [r for r in correlations for k in ("test_acc", "mc") if abs(r[f"rho_{k}"]) == 1 and r["n"] >= 4]
    lines.append(f"  {len(clear)} of {2 * len(correlations)} correlations have an interval that excludes 0"
                 + (f", {len(perfect)} are perfect (|rho| = 1, no interval)" if perfect else "")
                 + ("" if clear or perfect else ": the dense spectra predict nothing of this map"))
    for p in predictions or []:
        if not math.isfinite(p["agreement"]):
            lines.append(f"Regime I from dense {p['metric']} fitted on {trained_on}: {p['why']}")
            continue
        verdict = ("beats the base rate beyond both intervals" if p["clearly_beats_base"] else
                   "beats the base rate, within the intervals" if p["beats_base"] else
                   "does not beat the base rate: it predicts nothing here")
        lines.append(f"Regime I where dense {p['metric']} is {p['side']} {p['threshold']:.3f} (fitted on {trained_on}, "
                     f"{p['train_agreement']:.0%} of its {p['n_train']} sure calls): agrees with {p['agreement']:.0%} "
                     f"[{p['agreement_ci'][0]:.0%}, {p['agreement_ci'][1]:.0%}] of this study's {p['n']} sure calls; "
                     f"the base rate (always the more common call) {p['base_rate']:.0%} "
                     f"[{p['base_rate_ci'][0]:.0%}, {p['base_rate_ci'][1]:.0%}]: {verdict}")
    return lines


def _rho(rho: float, interval: list[float]) -> str:
    if not math.isfinite(rho):
        return f"{'n/a':>24}"
    if not all(math.isfinite(v) for v in interval):
        return f"{rho:+.2f} (no interval)".rjust(24)
    return f"{rho:+.2f} [{interval[0]:+.2f}, {interval[1]:+.2f}]".rjust(24)


def _excludes_zero(interval: list[float]) -> bool:
    return all(math.isfinite(v) for v in interval) and (interval[0] > 0 or interval[1] < 0)
