"""Which cells a screen cannot rule out: the pure rule behind a screened study's second stage.

A screened study (`study.screen_epochs`) first retrains every cell for a short budget. Per
target density, the full budget is then spent only on the temperatures the screen cannot rule
out:

- a cell that diverged is out;
- Regime I cells colder than a Regime-II cell of the same density are out (the model: there the
  copies are not yet in one basin and the optimum is hotter);
- by the study's criterion (`StudyConfig.criterion`: regime, the highest CKA in Regime II; val,
  the best validation accuracy; regime+val, the best validation accuracy in Regime II), a cell
  whose score is below the best by more than one standard error of the difference (the two
  cells' SEs over dense seeds, combined) is out; an unknown SE keeps it in. Under a Regime-II
  criterion the Regime I cells are out when any Regime-II cell exists; when none does, every
  cell stays (the screen cannot tell).

Regime calls are the point estimates (`regime_point`), as `select` reads them; "sure" Regime I
for the colder-than rule is the confident call ("I").
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from analysis.classify import aggregate, classify
from analysis.uncertainty import combined_se, se_of
from contract.config import StudyConfig
from contract.knobs import hot_to_cold
from contract.seeds import study_confidence

SCORE = {"regime": "cka", "val": "val_acc", "regime+val": "val_acc"}


def kept_temperatures(cells: pd.DataFrame, *, density: float, by: str) -> list[float]:
    """Return the temperatures at `density` a classified, seed-aggregated screen table cannot rule out, hot to cold."""
    at = cells[np.isclose(cells["density"], density) & (cells["status"] == "ok")]
    if at.empty:
        return []
    knob = str(at["knob"].iloc[0])
    order = hot_to_cold(knob, at["temperature"])
    point = at["regime_point"] if "regime_point" in at.columns else at["regime"]
    two = at[point.isin(["II-A", "II-B"])]
    hottest_two = order.index(hot_to_cold(knob, two["temperature"])[0]) if len(two) else None
    colder_one = {float(t) for t, r in zip(at["temperature"], at["regime"], strict=True)
                  if r == "I" and hottest_two is not None and order.index(float(t)) > hottest_two}
    if by != "val" and two.empty:  # no Regime-II cell: a Regime-II criterion cannot rule anything out
        return order
    pool = at if by == "val" else two
    score = SCORE[by]
    kept = set(pool["temperature"].astype(float))
    if pool[score].notna().any():
        best = pool.loc[pool[score].idxmax()]
        best_se = se_of(best, score)
        kept = {float(r["temperature"]) for _, r in pool.iterrows()
                if not _below(r[score], se_of(r, score), best[score], best_se)}
    return [t for t in order if t in kept - colder_one]


def owes(screen_cells: pd.DataFrame, config: StudyConfig) -> dict[tuple[float, int], list[float]]:
    """Return what the full stage owes: per (temperature, dense seed), the target densities the screen kept it for.

    Args:
        screen_cells: the screen's per-seed cells (`analysis.read_study(STUDY/screen).cells`).
        config: the screened study's config (its thresholds, criterion, targets and seeds).
    """
    m = config.metrics
    cells = classify(aggregate(screen_cells), mc_threshold=m.mc_threshold, cka_eps=m.cka_eps,
                     confidence=study_confidence(config), margin=config.seeds.margin)
    kept = {float(d): kept_temperatures(cells, density=float(d), by=config.criterion) for d in config.targets}
    # The seeds the screen trained at each temperature: a grid's dense seeds, a search's visited
    # temperatures only, and the seeds a seed rule added where they were.
    seeds = screen_cells.groupby("temperature")["dense_seed"].unique() if len(screen_cells) else {}
    out = {}
    for t in config.study.temperatures:
        densities = [d for d in kept if any(math.isclose(t, k) for k in kept[d])]
        trained = next((s for at, s in seeds.items() if math.isclose(float(at), t)), []) if densities else []
        for seed in sorted(int(s) for s in trained):
            out[(float(t), seed)] = densities
    return out


def owes_for(config: StudyConfig) -> Callable[[pd.DataFrame], dict]:
    """Return `owes` bound to `config`: what `study.run.screen` calls once the screen has finished."""
    return lambda screen_cells: owes(screen_cells, config)


def _below(value: float, se: float, best: float, best_se: float) -> bool:
    # Below the best by more than one standard error of the difference; an unknown SE rules nothing out.
    if pd.isna(value):
        return True
    spread = combined_se(se, best_se)
    return math.isfinite(spread) and best - value > spread


def with_screen(cells: pd.DataFrame, screen: pd.DataFrame) -> pd.DataFrame:
    """Return classified full-budget `cells` plus the screen's cells that have no full-budget row, as regime "out".

    For the regime map of a screened study: the screen's values stay in those rows (hover), its
    call does not; answers are never read from this table.
    """
    keys = ["temperature", "density"]
    have = set(map(tuple, cells[keys].astype(float).to_numpy()))
    out = screen[[tuple(k) not in have for k in screen[keys].astype(float).to_numpy()]]
    out = out.assign(regime="out", regime_point="out")
    return pd.concat([cells, out], ignore_index=True)
