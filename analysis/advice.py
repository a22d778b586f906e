"""The three case studies of DESIGN.md 2.5 as pure functions of a classified cell table.

(a) `advise`: the regime of one cell and which way to move the temperature;
(b) `select_model`: which model of a family to prune at a target density;
(c) `recommend_rho`: which SAM rho for a target density, interpolating off-grid densities.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.classify import classify
from analysis.uncertainty import BOUNDARY, combined_se, indistinguishable, pm, se_of
from contract.knobs import hot_to_cold, knob_words


class AdviceError(ValueError):
    """The question cannot be answered from this study; the message says why."""


def advise(cells: pd.DataFrame, *, density: float, temperature: float) -> dict:
    """Return the regime of cell (density, temperature) and the direction that improves the pruned model.

    Args:
        cells: a classified table (see `classify`), one row per (temperature, density).
        density: a density of the grid (fraction kept, 0-1).
        temperature: a temperature of the grid, in the knob's unit.

    Returns:
        {"knob", "density", "temperature", "regime", "direction" ("hotter"/"colder"/"keep", or
         "unclear" when the call is within noise: "I?"/"II?", "boundary" when it is at the boundary:
         "I|II"), "advice" (in the knob's words),
         "test_acc", "lmc", "cka" and their "_se" standard errors, "mc_threshold", "cka_eps",
         "confidence"}.
    """
    row = _cell(cells, density=density, temperature=temperature)
    knob = str(row["knob"])
    regime = row["regime"]
    if regime == "I":
        direction, words = "hotter", knob_words(knob).hotter
    elif regime == "II-A":
        direction, words = "colder", knob_words(knob).colder
    elif regime == "II-B":
        direction, words = "keep", "keep this setting: it is near the best for this density"
    elif regime == BOUNDARY:
        direction = "boundary"
        words = (f"at the I/II boundary: mc {pm(row['lmc'], se_of(row, 'lmc'), digits=3)} is within the margin "
                 f"{row['margin']:g} of the threshold {row['mc_threshold']:g}; more seeds would not call it, and a "
                 "small move either way crosses the boundary")
    elif regime in ("I?", "II?"):
        direction = "unclear"
        if math.isnan(se_of(row, "lmc")):
            words = (f"within noise: mc {row['lmc']:.3f} has no standard error (that takes 2 dense seeds, or 4 "
                     "copies of one); add dense seeds before moving the temperature")
        else:
            words = (f"within noise: mc {pm(row['lmc'], se_of(row, 'lmc'), digits=3)} is within {row['confidence']:g} "
                     f"standard errors of the threshold {row['mc_threshold']:g}; add dense seeds (or copies) "
                     "before moving the temperature")
    else:
        raise AdviceError(f"the cell at density {density:g}, {knob} {temperature:g} has no regime "
                          f"(status {row.get('status', 'n/a')}); its training diverged or LMC/CKA were off")
    return {"knob": knob, "density": float(row["density"]), "temperature": float(row["temperature"]),
            "regime": regime, "direction": direction, "advice": words, **_values(row)}


# How `select_model` answers (DESIGN.md 2.5 and issue 23): "regime", the paper's rule (the Regime-II
# cell with the highest CKA: training-set metrics only); "val", the highest validation accuracy;
# "regime+val", the highest validation accuracy among Regime-II cells. None reads the test set.
CRITERIA = ("regime", "val", "regime+val")
SCORE = {"regime": "cka", "val": "val_acc", "regime+val": "val_acc"}


class NoAnswer(AdviceError):
    """The question was well posed and the study holds no cell that answers it (a refusal, not bad input)."""


def has_validation(cells: pd.DataFrame) -> bool:
    """Return True when the cells were scored on a validation split (data.validation), so `by` may be val."""
    return "val_acc" in cells.columns and bool(cells["val_acc"].notna().any())


def require_criterion(cells: pd.DataFrame, by: str) -> None:
    """Raise AdviceError (one line, what to do) unless the study can be answered by criterion `by`."""
    if by not in CRITERIA:
        raise AdviceError(f"unknown criterion {by!r}; answer by one of {', '.join(CRITERIA)}")
    if by != "regime" and not has_validation(cells):
        raise AdviceError(f"--by {by} needs a validation split and this study has none; answer --by regime, or "
                          "run the study with data.validation (e.g. 0.1)")


def select_model(cells: pd.DataFrame, *, density: float, by: str = "regime") -> dict:
    """Return the model to prune at `density`, chosen by criterion `by` (one of CRITERIA).

    "regime": the Regime-II cell with the highest CKA; "val": the cell with the highest validation
    accuracy; "regime+val": the Regime-II cell with the highest validation accuracy. Cells count as
    Regime II by their point estimate (an uncertain "II?" cell too). The answer lists the other
    candidates whose score (CKA or validation accuracy) is within `confidence` standard errors of
    the chosen one's ("indistinguishable_from"): between those the data cannot choose. Regret and
    gain are read on test accuracy, which no criterion sees.

    Returns:
        {"knob", "density", "by", "temperature" (chosen), "regime", "test_acc", "val_acc",
         "best_test_acc" (best in the grid at this density), "regret" (best - chosen, 0-1) and
         "regret_se", "coldest_temperature", "coldest_test_acc", "gain_over_coldest" (chosen -
         coldest, 0-1) and "gain_se", "indistinguishable_from" (temperatures), "lmc", "cka", the
         "_se" standard errors, thresholds, "caveats" (sentences, `caveats`)}.

    Raises:
        AdviceError: an unknown criterion, `val` on a study without a validation split, or no
            candidate cell at this density.
    """
    require_criterion(cells, by)
    at = _at_density(cells, density)
    knob, score = str(at["knob"].iloc[0]), SCORE[by]
    point = at["regime_point"] if "regime_point" in at.columns else at["regime"]
    pool = at[point.isin(["II-A", "II-B"])] if by != "val" else at
    pool = pool[pool[score].notna() & pool["test_acc"].notna()]
    if pool.empty and by == "val":
        raise NoAnswer(f"no cell with a validation accuracy at density {density:g}: every one diverged")
    if pool.empty:
        raise NoAnswer(_no_regime_two(at["regime"], density, knob, hot_to_cold(knob, at["temperature"])[0]))
    chosen = pool.loc[pool[score].idxmax()]
    coldest_t = hot_to_cold(knob, at["temperature"])[-1]
    coldest = at[np.isclose(at["temperature"], coldest_t)].iloc[0]
    best = at.loc[at["test_acc"].idxmax()]
    confidence = float(chosen.get("confidence", 0.0))
    ties = [float(r["temperature"]) for _, r in pool.iterrows() if r.name != chosen.name and
            indistinguishable(float(r[score]), se_of(r, score), float(chosen[score]), se_of(chosen, score),
                              confidence=confidence)]
    answer = {"knob": knob, "density": float(chosen["density"]), "by": by, "temperature": float(chosen["temperature"]),
            "regime": chosen["regime"], "best_test_acc": float(best["test_acc"]),
            "regret": float(best["test_acc"]) - float(chosen["test_acc"]),
            "regret_se": _difference_se(best, chosen), "coldest_temperature": float(coldest_t),
            "coldest_test_acc": float(coldest["test_acc"]),
            "gain_over_coldest": float(chosen["test_acc"]) - float(coldest["test_acc"]),
            "gain_se": _difference_se(chosen, coldest), "indistinguishable_from": sorted(ties),
            "val_acc": float(chosen["val_acc"]) if "val_acc" in chosen.index else math.nan, **_values(chosen)}
    return {**answer, "caveats": caveats(answer, at, best_temperature=float(best["temperature"]))}


def caveats(answer: dict, at: pd.DataFrame, *, best_temperature: float) -> list[str]:
    """Return what a user must know before acting on `select_model`'s answer, one sentence each.

    A pick in Regime I or I? (a criterion that ignores the regimes); at the edge of the grid (the
    best may lie beyond it); significantly worse on test accuracy
    than the grid's best, or no better than the coldest model (for SAM: plain SGD), by
    `confidence` standard errors (2 when the study's is 0); no standard errors at all.
    """
    knob, t, k = answer["knob"], answer["temperature"], answer["confidence"] or 2.0
    order = hot_to_cold(knob, at["temperature"])
    notes = []
    words = knob_words(knob)
    if answer["regime"] == "I":  # only a criterion that ignores the regimes (val) picks one
        notes.append(f"it is in Regime I: its pruned copies have a loss barrier between them (mc {answer['lmc']:.3f} "
                     f"below the threshold {answer['mc_threshold']:g}); the paper's rule would prune a Regime-II "
                     f"model and says to {words.hotter}")
    elif answer["regime"] == "I?":
        notes.append(f"its copies may have a barrier: mc {answer['lmc']:.3f} is within noise of the threshold "
                     f"{answer['mc_threshold']:g} (unresolved); add dense seeds (or copies) to call it")
    elif answer["regime"] == BOUNDARY:
        notes.append(f"it is at the I/II boundary: mc {answer['lmc']:.3f} is within the margin of the threshold "
                     f"{answer['mc_threshold']:g} whatever its noise; a barrier may open at a slightly colder setting")
    if len(order) > 1 and t == order[0]:
        notes.append(f"{knob} {t:g} is the hottest of the grid: a hotter model may do better ({words.hotter} "
                     "than the grid has to see; extend study.temperatures)")
    elif len(order) > 1 and t == order[-1]:
        notes.append(f"{knob} {t:g} is the coldest of the grid: a colder model may do better ({words.colder} "
                     "than the grid has to see; extend study.temperatures)")
    if math.isnan(answer["regret_se"]) or math.isnan(answer["gain_se"]):
        notes.append("no standard errors for test accuracy: nothing here is called within or beyond noise; add "
                     "dense seeds (or copies)")
        return notes
    if answer["regret"] > k * answer["regret_se"] > 0:
        notes.append(f"its test accuracy is {pm(answer['regret'], answer['regret_se'])} below the grid's "
                     f"best at this density ({knob} {best_temperature:g}), {answer['regret'] / answer['regret_se']:.1f}"
                     f" standard errors: the criterion ({answer['by']}) missed a better model")
    baseline = "plain SGD (rho 0)" if knob == "sam_rho" and answer["coldest_temperature"] == 0 else \
        f"the coldest model ({knob} {answer['coldest_temperature']:g})"
    if t != answer["coldest_temperature"] and abs(answer["gain_over_coldest"]) <= k * answer["gain_se"]:
        notes.append(f"no better than {baseline} within noise: gain "
                     f"{pm(answer['gain_over_coldest'], answer['gain_se'], sign='+')}")
    elif answer["gain_over_coldest"] < -k * answer["gain_se"]:
        notes.append(f"worse than {baseline}: gain {pm(answer['gain_over_coldest'], answer['gain_se'], sign='+')}")
    return notes


def _no_regime_two(calls: pd.Series, density: float, knob: str, hottest: float) -> str:
    # Why no cell qualifies, in the cells' own calls: sure barriers, or barriers within noise.
    counts = calls.value_counts()
    sure, unsure = int(counts.get("I", 0)), int(counts.get("I?", 0))
    hotter = f"{knob_words(knob).hotter} than the grid's hottest ({knob} {hottest:g})"
    if unsure:
        return (f"no Regime-II cell at density {density:g}: {sure} cell{'s' * (sure != 1)} in Regime I and {unsure} "
                f"called I? (a barrier within noise of the threshold); add dense seeds (or copies) to call them, "
                f"or {hotter}")
    return (f"no Regime-II cell at density {density:g}: every model has a barrier (Regime I) there; {hotter}, or "
            "prune to a higher density")


def recommend_rho(cells: pd.DataFrame, *, density: float, mc_threshold: float, cka_eps: float,
                  confidence: float, by: str = "regime") -> dict:
    """Return the SAM rho to train with before pruning to `density` (`select_model` by criterion `by`).

    A density between two grid densities is handled by interpolating test_acc, lmc and cka of
    every rho linearly in log-density between its neighbours and classifying the result;
    the answer says so in "interpolated_between".
    """
    if set(cells["knob"]) != {"sam_rho"}:
        raise AdviceError(f"recommend-rho needs a SAM-rho study; this one varies {', '.join(set(cells['knob']))}")
    grid = np.sort(cells["density"].unique())
    on_grid = np.isclose(grid, density)
    if on_grid.any():
        return {**select_model(cells, density=float(grid[on_grid][0]), by=by), "interpolated_between": None}
    if not grid[0] < density < grid[-1]:
        raise AdviceError(f"density {density:g} is outside the study's densities {grid[0]:g}-{grid[-1]:g}; "
                          "extrapolation is not offered")
    upper = int(np.searchsorted(grid, density))
    low, high = float(grid[upper - 1]), float(grid[upper])
    w = (math.log(density) - math.log(low)) / (math.log(high) - math.log(low))
    a = cells[np.isclose(cells["density"], low)].set_index("temperature")
    b = cells[np.isclose(cells["density"], high)].set_index("temperature")
    columns = [c for c in ("test_acc", "lmc", "cka", "val_acc", "test_acc_se", "lmc_se", "cka_se", "val_acc_se")
               if c in cells.columns]
    mixed = (1 - w) * a[columns] + w * b[columns]  # standard errors interpolated too: an approximation
    mixed = mixed.dropna(subset=["test_acc", "lmc", "cka"]).reset_index().assign(density=density, knob="sam_rho",
                                                                                 status="ok")
    answer = select_model(classify(mixed, mc_threshold=mc_threshold, cka_eps=cka_eps, confidence=confidence),
                          density=density, by=by)
    return {**answer, "interpolated_between": [low, high]}



def _difference_se(a: pd.Series, b: pd.Series) -> float:
    # Standard error of a difference of test accuracies of two cells (0 when they are the same cell).
    if a.name == b.name:
        return 0.0
    return combined_se(se_of(a, "test_acc"), se_of(b, "test_acc"))


def _values(row: pd.Series) -> dict:
    return {"test_acc": float(row["test_acc"]), "lmc": float(row["lmc"]), "cka": float(row["cka"]),
            "test_acc_se": se_of(row, "test_acc"), "lmc_se": se_of(row, "lmc"), "cka_se": se_of(row, "cka"),
            "confidence": float(row.get("confidence", 0.0)),
            "mc_threshold": float(row["mc_threshold"]), "cka_eps": float(row["cka_eps"])}


def _at_density(cells: pd.DataFrame, density: float) -> pd.DataFrame:
    at = cells[np.isclose(cells["density"], density)]
    if at.empty:
        grid = ", ".join(f"{d:g}" for d in sorted(cells["density"].unique()))
        raise AdviceError(f"density {density:g} is not in the study; its densities are {grid}")
    return at


def _cell(cells: pd.DataFrame, *, density: float, temperature: float) -> pd.Series:
    at = _at_density(cells, density)
    row = at[np.isclose(at["temperature"], temperature)]
    if row.empty:
        grid = ", ".join(f"{t:g}" for t in sorted(at["temperature"].unique()))
        raise AdviceError(f"temperature {temperature:g} is not in the study; its temperatures are {grid}")
    return row.iloc[0]


__all__ = ["CRITERIA", "advise", "has_validation", "require_criterion", "select_model", "recommend_rho", "caveats",
           "AdviceError", "NoAnswer"]
