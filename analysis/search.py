"""Regime-guided search: the three-regime rule turned into "which temperature to train next" (DESIGN.md 6.2).

A trial trains one temperature and reports every density, so one suggestion informs every target
density at once. Along the temperature axis at one density the model predicts, from hot to cold,
Regime II-A (train colder), then II-B (near optimal), then Regime I at low densities (train
hotter). The rule searches, per target density, for the best cell by the study's criterion
(`analysis.advice.CRITERIA`, the same one that answers at the end: `by`), as a bracketing
search on a unimodal function, with the regimes directing where to look:

- **Best so far.** At density d the best visited temperature is `select`'s answer by `by`:
  "regime", the Regime-II cell (point estimate of mc) with the highest CKA; "regime+val", the
  Regime-II cell with the highest validation accuracy; "val", the cell with the highest
  validation accuracy. With none (every visited cell is Regime I under a Regime-II criterion, or
  nothing is visited yet) the optimum is hotter than the hottest Regime-I cell (or anywhere).
- **Bracket.** The best's nearest visited neighbours on the hotter and the colder side, or the
  ends of the candidate list, bound where the optimum can still be. The regimes cut it: a best
  cell in Regime I (possible under "val") says hotter is better, so its colder side is dropped.
  With no best, the bracket runs from the hot end to the hottest Regime-I cell.
- **Gaps.** The unvisited candidates inside a bracket form one or two runs (either side of the
  best). A run between two visited cells is closed without a visit only when both ends are II-B
  (the model's near-optimal plateau) and the data cannot tell them apart: with a validation
  split, their validation accuracies differ by no more than one standard error of the
  difference (over dense seeds; an unknown SE keeps the run open); without one, under
  "regime", CKA within cka_eps of the maximum says so. On a flat optimum this is the rule's
  early stop; on a sharp one it keeps searching between two II-B cells whose accuracies
  differ. Ends on a slope (Regime I or II-A) never close a run: there, accuracies within
  their SEs say the seeds are noisy, not that the function is flat, and a one-candidate peak
  between them is what the model predicts (mnist1d's SAM-rho table: two Regime-I ends 2.5
  points apart with SEs of 4-7 points hid the best rho between them).
- **Next.** One trial informs every target density, so the open run shared by the most target
  densities goes first; among those the widest (then the colder); it is split at its middle
  candidate. Temperatures in flight (pending) split runs as visits would, so k free slots get
  the k best splits and no temperature is suggested twice.
- **Stop.** When no target density has an open run the rule returns None. A budget
  (`study.max_trials`) stops it earlier.

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
from analysis.uncertainty import combined_se, se_of
from contract.config import StudyConfig
from contract.knobs import hot_to_cold

__all__ = ["next_temperatures", "open_runs", "rule_for", "Run", "Call"]


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
                      mc_threshold: float, cka_eps: float, confidence: float, by: str = "regime") -> list[float] | None:
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
        by: the criterion the search looks for and answers by (`analysis.advice.CRITERIA`).

    Returns:
        Temperatures (from `candidates`), the run open at most densities first; [] when every open run is
        covered by pending temperatures; None when nothing is pending and no run is open.
    """
    order = hot_to_cold(knob, candidates)
    visited = _visited_positions(cells, order)
    busy = set(visited) | {_position(order, t) for t in pending if _position(order, t) is not None}
    regimes = _regimes_by_density(cells, order, densities, mc_threshold=mc_threshold, cka_eps=cka_eps,
                                  confidence=confidence, by=by)
    chosen = []
    for _ in range(n):
        runs = [run for d in densities for run in open_runs(regimes.get(_key(d), {}), len(order), busy, by=by)]
        if not runs:
            break
        shared = {run: sum(r == run for r in runs) for run in runs}
        best = max(shared, key=lambda r: (shared[r], r.width, r.middle))
        chosen.append(order[best.middle])
        busy.add(best.middle)
    if chosen:
        return chosen
    return [] if len(busy) > len(visited) else None


def rule_for(config: StudyConfig, *, by: str = "regime") -> Callable[..., list[float] | None]:
    """Return the rule for the study config `config`, looking for the best cell by `by`: `rule(cells, pending=, n=)`.

    Candidates are study.temperatures, targets `config.targets` (study.target_densities, default
    every density of pruning.densities), thresholds those of metrics. The result pickles (Tune
    saves it with the experiment; a resumed search gets this run's rule, and so its --by, from the launcher).
    """
    m = config.metrics
    return partial(next_temperatures, knob=config.study.knob, candidates=list(config.study.temperatures),
                   densities=config.targets, mc_threshold=m.mc_threshold, cka_eps=m.cka_eps, confidence=m.confidence,
                   by=by)


@dataclass(frozen=True)
class Call:
    """What the rule knows of one visited cell at one density.

    Attributes:
        regime: the point estimate's regime ("I", "II-A", "II-B" or "n/a").
        score: the criterion's value (CKA for "regime", validation accuracy otherwise; NaN if unknown).
        val_acc: validation accuracy, 0-1 (NaN without a split).
        val_se: its standard error over dense seeds (NaN with one seed).
    """

    regime: str
    score: float
    val_acc: float = math.nan
    val_se: float = math.nan


def open_runs(calls: dict[int, Call], size: int, busy: set[int], *, by: str = "regime") -> list[Run]:
    """Return the open runs at one density.

    Args:
        calls: position -> Call of the visited cells at this density.
        size: how many candidates there are.
        busy: positions visited or in flight (they split runs and are never suggested).
        by: the criterion (`analysis.advice.CRITERIA`).
    """
    eligible = {p: c.score for p, c in calls.items() if math.isfinite(c.score)
                and (by == "val" or c.regime in ("II-A", "II-B"))}
    if eligible:
        best = max(eligible, key=lambda p: (eligible[p], p))
        low = max((p for p in calls if p < best), default=-1)
        high = min((p for p in calls if p > best), default=size)
        # Positions run hot to cold: a best cell in Regime I says hotter is better, so not its colder side.
        sides = [(low, best)] if calls[best].regime == "I" else [(low, best), (best, high)]
    else:
        regime_one = [p for p, c in calls.items() if c.regime == "I"]
        sides = [(-1, min(regime_one, default=size))]
    runs = []
    for low, high in sides:
        if _indistinguishable_ends(calls, low, high, by=by):
            continue
        runs += _free_runs(range(low + 1, high), busy)
    return runs


def _indistinguishable_ends(calls: dict[int, Call], low: int, high: int, *, by: str) -> bool:
    # Close a run only when two II-B ends cannot be told apart (module docstring, "Gaps").
    a, b = calls.get(low), calls.get(high)
    if a is None or b is None or not (a.regime == b.regime == "II-B"):
        return False
    if math.isfinite(a.val_acc) and math.isfinite(b.val_acc):
        spread = combined_se(a.val_se, b.val_se)
        return math.isfinite(spread) and abs(a.val_acc - b.val_acc) <= spread
    return by == "regime"


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
                        cka_eps: float, confidence: float, by: str) -> dict[float, dict[int, Call]]:
    if cells.empty:
        return {}
    table = aggregate(cells) if "dense_seed" in cells.columns else cells
    table = classify(table, mc_threshold=mc_threshold, cka_eps=cka_eps, confidence=confidence)
    targets = {_key(d) for d in densities}
    out: dict[float, dict[int, Call]] = {}
    for row in table.to_dict("records"):
        position = _position(order, row["temperature"])
        if position is None or _key(row["density"]) not in targets:
            continue
        value = {k: _float(row.get(k)) for k in ("cka", "val_acc")}
        score = value["cka"] if by == "regime" else value["val_acc"]
        out.setdefault(_key(row["density"]), {})[position] = Call(str(row["regime_point"]), score, value["val_acc"],
                                                                  se_of(row, "val_acc"))
    return out


def _float(value) -> float:
    return float(value) if value is not None and pd.notna(value) else math.nan


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
