"""Regime-guided search: the three-regime rule turned into "which temperature to train next" (DESIGN.md 6.2).

A trial trains one temperature and reports every density, so one suggestion informs every target
density at once. Along the temperature axis at one density the model predicts, from hot to cold,
Regime II-A (train colder), then II-B (near optimal), then Regime I at low densities (train
hotter); CKA rises through Regime II towards the I/II boundary. The rule therefore searches, per
target density, for the maximum of CKA over Regime-II temperatures, with Regime-I temperatures
counting as worse than any Regime-II one, as a bracketing search on a unimodal function:

- **Best so far.** At density d the best visited temperature is `select`'s answer: the Regime-II
  cell (by the point estimate of mc) with the highest CKA. With none (every visited cell is
  Regime I, or nothing is visited yet) the optimum is hotter than the hottest Regime-I cell (or
  anywhere).
- **Bracket.** The best's nearest visited neighbours on the hotter and the colder side, or the
  ends of the candidate list, bound where the optimum can still be. With no best, the bracket
  runs from the hot end to the hottest Regime-I cell.
- **Gaps.** The unvisited candidates inside a bracket form one or two runs (either side of the
  best). A run between two II-B cells is resolved without a visit: CKA is within cka_eps of the
  maximum at both ends, so under unimodality everything between is near optimal too. This is
  the rule's early stop on a flat optimum (the paper's figure has many temperatures within 0.3
  points there).
- **Next.** The widest open run over all target densities (ties: the run open at more
  densities, then the colder one) is split at its middle candidate. Temperatures in flight
  (pending) split runs as visits would, so k free slots get the k widest splits and no
  temperature is suggested twice.
- **Stop.** When no target density has an open run, every one has its best bracketed by visited
  neighbours adjacent in the candidate list (or the ends of the range, or II-B cells): the rule
  returns None. A budget (`study.max_trials`) stops it earlier.

Regime calls use the point estimates (`regime_point`): near the I/II boundary, where the calls
are uncertain, is where the optimum is, so either call brackets it. Diverged cells count as
visited and inform nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import pandas as pd

from analysis.classify import aggregate, classify
from contract.config import StudyConfig
from contract.knobs import hot_to_cold

__all__ = ["next_temperatures", "open_runs", "rule_for", "Run"]


@dataclass(frozen=True)
class Run:
    """A run of unvisited candidates (positions in the hot-to-cold candidate list) still to search."""

    positions: tuple[int, ...]

    @property
    def width(self) -> int:
        """How many candidates the run holds."""
        return len(self.positions)

    @property
    def middle(self) -> int:
        """The position that splits the run in two (the colder of two middles)."""
        return self.positions[len(self.positions) // 2]


def next_temperatures(cells: pd.DataFrame, *, knob: str, candidates, densities, pending=(), n: int = 1,
                      mc_threshold: float, cka_eps: float, confidence: float) -> list[float] | None:
    """Return up to `n` temperatures to train next, [] to wait for pending ones, or None when the search is done.

    Args:
        cells: the cells observed so far: columns temperature, density, test_acc, lmc, cka, and
            either dense_seed (per-seed rows, averaged here) or already aggregated; optionally
            status. May be empty.
        knob: the study's knob (sets which way is hotter).
        candidates: every temperature the search may visit, in the knob's unit.
        densities: the target densities (fractions kept, 0-1).
        pending: temperatures in flight (suggested, not finished): never suggested again.
        n: how many suggestions are wanted (free slots).
        mc_threshold: Regime I below this mc (see `analysis.classify.classify`).
        cka_eps: II-B within this CKA of a density's best Regime-II CKA.
        confidence: standard errors for a confident call (the rule reads the point calls).

    Returns:
        Temperatures (from `candidates`), widest open run first; [] when every open run is
        covered by pending temperatures; None when nothing is pending and no run is open.
    """
    order = hot_to_cold(knob, candidates)
    visited = _visited_positions(cells, order)
    busy = set(visited) | {_position(order, t) for t in pending if _position(order, t) is not None}
    regimes = _regimes_by_density(cells, order, densities, mc_threshold=mc_threshold, cka_eps=cka_eps,
                                  confidence=confidence)
    chosen = []
    for _ in range(n):
        runs = [run for d in densities for run in open_runs(regimes.get(_key(d), {}), len(order), busy)]
        if not runs:
            break
        shared = {run: sum(r == run for r in runs) for run in runs}
        best = max(shared, key=lambda r: (r.width, shared[r], r.middle))
        chosen.append(order[best.middle])
        busy.add(best.middle)
    if chosen:
        return chosen
    return [] if len(busy) > len(visited) else None


def rule_for(config: StudyConfig) -> Callable[..., list[float] | None]:
    """Return the rule for the study config `config`: `rule(cells, pending=, n=)`.

    Candidates are study.temperatures, targets `config.targets` (study.target_densities, default
    every density of pruning.densities), thresholds those of metrics. The result pickles (Tune
    saves it with the experiment, to resume).
    """
    m = config.metrics
    return partial(next_temperatures, knob=config.study.knob, candidates=list(config.study.temperatures),
                   densities=config.targets, mc_threshold=m.mc_threshold, cka_eps=m.cka_eps, confidence=m.confidence)


def open_runs(calls: dict[int, tuple[str, float]], size: int, busy: set[int]) -> list[Run]:
    """Return the open runs at one density.

    Args:
        calls: position -> (point regime "I", "II-A", "II-B" or "n/a", CKA) of the visited cells
            at this density.
        size: how many candidates there are.
        busy: positions visited or in flight (they split runs and are never suggested).
    """
    two = {p: cka for p, (regime, cka) in calls.items() if regime in ("II-A", "II-B") and math.isfinite(cka)}
    if two:
        best = max(two, key=lambda p: (two[p], p))
        low = max((p for p in calls if p < best), default=-1)
        high = min((p for p in calls if p > best), default=size)
        sides = [(low, best), (best, high)]
    else:
        regime_one = [p for p, (regime, _) in calls.items() if regime == "I"]
        sides = [(-1, min(regime_one, default=size))]
    runs = []
    for low, high in sides:
        if _both_near_optimal(calls, low, high):
            continue
        runs += _free_runs(range(low + 1, high), busy)
    return runs


def _both_near_optimal(calls: dict[int, tuple[str, float]], low: int, high: int) -> bool:
    return calls.get(low, ("",))[0] == "II-B" and calls.get(high, ("",))[0] == "II-B"


def _free_runs(positions: range, busy: set[int]) -> list[Run]:
    runs, current = [], []
    for p in positions:
        if p in busy:
            if current:
                runs.append(Run(tuple(current)))
            current = []
        else:
            current.append(p)
    if current:
        runs.append(Run(tuple(current)))
    return runs


def _regimes_by_density(cells: pd.DataFrame, order: list[float], densities, *, mc_threshold: float,
                        cka_eps: float, confidence: float) -> dict[float, dict[int, tuple[str, float]]]:
    if cells.empty:
        return {}
    table = aggregate(cells) if "dense_seed" in cells.columns else cells
    table = classify(table, mc_threshold=mc_threshold, cka_eps=cka_eps, confidence=confidence)
    targets = {_key(d) for d in densities}
    out: dict[float, dict[int, tuple[str, float]]] = {}
    for row in table.itertuples(index=False):
        position = _position(order, row.temperature)
        if position is None or _key(row.density) not in targets:
            continue
        cka = float(row.cka) if pd.notna(row.cka) else math.nan
        out.setdefault(_key(row.density), {})[position] = (str(row.regime_point), cka)
    return out


def _visited_positions(cells: pd.DataFrame, order: list[float]) -> set[int]:
    if cells.empty:
        return set()
    positions = {_position(order, t) for t in cells["temperature"].unique()}
    return {p for p in positions if p is not None}


def _position(order: list[float], temperature: float) -> int | None:
    hits = np.flatnonzero(np.isclose(order, float(temperature)))
    return int(hits[0]) if len(hits) else None


def _key(density: float) -> float:
    return round(float(density), 9)
