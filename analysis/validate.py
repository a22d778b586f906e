"""Each study checks its own advice against its own accuracies (pure functions of a classified table).

Direction advice (DESIGN.md 2.5) is a prediction about the table itself: in a confident Regime-I
cell the next hotter temperature should prune better, in a confident II-A cell the next colder
one. `validate_advice` counts how often the neighbour in the advised direction has the higher
test accuracy, with a 95 % Wilson interval, against what random directions would score on the
same table: each advised cell draws "hotter" or "colder" uniformly among the directions that
have a neighbour, and the p-value is the exact probability that random draws agree at least as
often (the distribution of a sum of independent Bernoullis, computed exactly rather than by
sampling permutations). `select_regrets` reports, per density, what choosing by a criterion
(`analysis.advice.CRITERIA`: the paper's rule, validation accuracy, or both) cost against the
grid's best test accuracy and gained over the coldest model, each with its standard error;
`criteria_regrets` does so for every criterion the study can answer by, so that a study says
which one it should be answered by.

With seeds added where calls were uncertain (seeds.max_seeds), the p-value stays exact: it is
conditional on the final table, and the random directions it is compared with are drawn
independently of the table, whatever rule chose the seeds that made it. What the seeds change is
which cells are advised: only confident calls are, made with the confidence spent over the
study's looks (`contract.seeds`), so a cell called after looking is called at the study's error
rate. Cells not advised are counted apart: unresolved (I? or II?, the seeds ran out) and at the
boundary (I|II, mc within seeds.margin of the threshold), which no direction improves.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.advice import CRITERIA, AdviceError, has_validation, select_model
from analysis.uncertainty import BOUNDARY, UNRESOLVED, combined_se, pm
from contract.knobs import hot_to_cold


def validate_advice(cells: pd.DataFrame) -> dict:
    """Return the agreement of a classified table's direction advice with its own test accuracies.

    Args:
        cells: a classified, seed-aggregated table (`classify(aggregate(...))`).

    Returns:
        {"advised": cells with a confident I or II-A call and a neighbour in the advised
         direction, "agreed": of those, how many neighbours have higher test accuracy, "rate",
         "ci95": [low, high] (Wilson), "random_rate": the expected rate of random directions,
         "p_value": P(random directions agree >= "agreed" times), "cells": one dict per advised
         cell, "unresolved": cells called I? or II?, "boundary": cells called I|II}.
    """
    knob = str(cells["knob"].iloc[0])
    details, chances = [], []
    for density, at in cells.groupby("density"):
        order = hot_to_cold(knob, at["temperature"])
        acc = {float(t): float(a) for t, a in zip(at["temperature"], at["test_acc"], strict=True)}
        for _, row in at.iterrows():
            if row["regime"] not in ("I", "II-A"):
                continue
            i = order.index(float(row["temperature"]))
            neighbours = {"hotter": order[i - 1] if i > 0 else None,
                          "colder": order[i + 1] if i + 1 < len(order) else None}
            better = {d: t is not None and math.isfinite(acc[t]) and acc[t] > float(row["test_acc"])
                      for d, t in neighbours.items()}
            advised = "hotter" if row["regime"] == "I" else "colder"
            if neighbours[advised] is None or not math.isfinite(acc[neighbours[advised]]):
                continue
            available = [d for d, t in neighbours.items() if t is not None and math.isfinite(acc[t])]
            chances.append(sum(better[d] for d in available) / len(available))
            details.append({"density": float(density), "temperature": float(row["temperature"]),
                            "regime": row["regime"], "direction": advised, "neighbour": neighbours[advised],
                            "agreed": bool(better[advised])})
    n, k = len(details), sum(d["agreed"] for d in details)
    return {"advised": n, "agreed": k, "rate": k / n if n else math.nan, "ci95": wilson_interval(k, n),
            "random_rate": float(np.mean(chances)) if chances else math.nan,
            "p_value": at_least(k, chances) if n else math.nan, "cells": details,
            "unresolved": int(cells["regime"].isin(UNRESOLVED).sum()),
            "boundary": int((cells["regime"] == BOUNDARY).sum())}


def wilson_interval(successes: int, trials: int, *, z: float = 1.959964) -> list[float]:
    """Return the Wilson score interval [low, high] of a proportion (95 % at the default z); NaNs for 0 trials."""
    if trials == 0:
        return [math.nan, math.nan]
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [centre - half, centre + half]


def at_least(k: int, chances: list[float]) -> float:
    """Return P(sum of independent Bernoulli(chances) >= k), exactly (a dynamic programme over the count)."""
    dist = np.zeros(len(chances) + 1)
    dist[0] = 1.0
    for p in chances:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(min(1.0, dist[k:].sum()))


def select_regrets(cells: pd.DataFrame, *, by: str = "regime") -> list[dict]:
    """Return per density what `select_model` chose by criterion `by`, its regret and gain, each with its SE."""
    out = []
    for density in sorted(cells["density"].unique()):
        try:
            answer = select_model(cells, density=float(density), by=by)
        except AdviceError as err:
            out.append({"density": float(density), "by": by, "temperature": None, "error": str(err)})
            continue
        out.append({key: answer[key] for key in ("density", "by", "temperature", "regime", "test_acc", "regret",
                                                  "regret_se", "gain_over_coldest", "gain_se",
                                                  "indistinguishable_from")})
    return out


def criteria_regrets(cells: pd.DataFrame) -> dict[str, list[dict]]:
    """Return {criterion: `select_regrets` by it} for every criterion the study can answer by.

    Without a validation split that is the paper's rule alone.
    """
    usable = CRITERIA if has_validation(cells) else ("regime",)
    return {by: select_regrets(cells, by=by) for by in usable}


def validation_lines(check: dict, regrets: dict[str, list[dict]], *, knob: str) -> list[str]:
    """Return the text of `regimes validate`: the advice check, then each criterion's regret per density."""
    if check["advised"] == 0:
        lines = ["no confidently advised cell has a neighbour in its direction: nothing to check"]
    else:
        low, high = check["ci95"]
        lines = [f"advice agrees with the study's own accuracies in {check['agreed']} of {check['advised']} advised "
                 f"cells ({check['rate']:.0%}, 95 % interval {low:.0%}-{high:.0%}); random directions would agree "
                 f"{check['random_rate']:.0%} on this table: p = {check['p_value']:.3g}"]
    if check.get("unresolved") or check.get("boundary"):
        lines.append(f"not advised: {check.get('unresolved', 0)} cells unresolved (I? or II?: more seeds could call "
                     f"them), {check.get('boundary', 0)} at the boundary (I|II: mc within the margin of the threshold)")
    lines.append("select at each density, by criterion (test-accuracy regret against the grid's best, gain over "
                 "the coldest model, +- standard errors):")
    densities = [row["density"] for row in next(iter(regrets.values()))]
    for i, density in enumerate(densities):
        lines.append(f"  density {density:g}:")
        for by, rows in regrets.items():
            lines.append(f"    {by:<11}" + _regret_text(rows[i], knob))
    lines.append("mean regret over the densities answered: " + "; ".join(_mean_regret(by, rows)
                                                                          for by, rows in regrets.items()))
    return lines


def _regret_text(row: dict, knob: str) -> str:
    if row["temperature"] is None:
        return row["error"]
    text = (f"{knob} {row['temperature']:g} ({row['regime']}), regret {pm(row['regret'], row['regret_se'], sign='+')}, "
            f"gain {pm(row['gain_over_coldest'], row['gain_se'], sign='+')}")
    if row["indistinguishable_from"]:
        text += "; indistinguishable from " + ", ".join(f"{t:g}" for t in row["indistinguishable_from"])
    return text


def _mean_regret(by: str, rows: list[dict]) -> str:
    answered = [r for r in rows if r["temperature"] is not None]
    if not answered:
        return f"{by} none answered"
    mean = float(np.mean([r["regret"] for r in answered]))
    se = combined_se(*(r["regret_se"] for r in answered)) / len(answered)  # NaN when any SE is unknown
    return f"{by} {pm(mean, se)} ({len(answered)} of {len(rows)})"
