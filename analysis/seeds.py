"""The seed rule: which temperature gets one more dense seed (seeds.max_seeds; `contract.seeds`).

A seed at temperature t is one trial: a new dense model at t, pruned to every density and
retrained. The rule reads the cells reported so far, classified as the finished study will be
(the spent confidence and the margin of `contract.seeds`), and adds a seed only where a
target-density cell is uncertain and its call matters:

- **the map**: a cell whose mc call is unresolved (I? or II?; not at the boundary, where seeds
  cannot call it) and that is not flanked on both sides, at its density, by sure calls of its own
  side: such a cell can move where the map's I/II boundary lies. A cell so flanked could only
  confirm its side or make an island;
- **the answer**: per target density, the answer by the study's criterion (`select_model`) and
  the cells within noise of it (its `indistinguishable_from`): seeds there tell the tie apart.

The most informative seed goes first, by the index of the thresholding bandit APT (Locatelli et
al. 2016) with the SE in place of its known variance: a map cell's index is
(|mc - mc_threshold| + margin) / SE(mc), a tie's |score difference| / SE(difference); a cell
with no SE yet has index 0. The temperature of the cell with the lowest index gets the seed,
among temperatures with fewer than max_seeds seeds and no trial in flight. The rule is done (None)
when no cell qualifies and nothing is in flight, which is when every call that matters is sure,
at the boundary, or at a temperature with every seed.
"""

from __future__ import annotations

import math
from functools import partial

import pandas as pd

from analysis.advice import SCORE, AdviceError, select_model
from analysis.classify import aggregate, classify
from analysis.uncertainty import UNRESOLVED, combined_se, is_sure, mc_side, se_of
from contract.config import StudyConfig
from contract.knobs import hot_to_cold
from contract.seeds import study_confidence

def seed_indices(classified: pd.DataFrame, *, knob: str, densities: list[float], by: str) -> dict[float, float]:
    """Return {temperature: the lowest index of its cells that want a seed} (only temperatures with such a cell)."""
    out: dict[float, float] = {}
    for index, temperature in [*_map_cells(classified, knob, densities), *_answer_ties(classified, densities, by)]:
        out[temperature] = min(out.get(temperature, math.inf), index)
    return out


def _map_cells(classified: pd.DataFrame, knob: str, densities: list[float]) -> list[tuple[float, float]]:
    out = []
    tau = float(classified.attrs.get("mc_threshold", classified["mc_threshold"].iloc[0]))
    margin = float(classified.attrs.get("margin", 0.0))
    for density, at in classified.groupby("density"):
        if not any(math.isclose(float(density), d) for d in densities):
            continue
        order = hot_to_cold(knob, at["temperature"])
        calls = {float(t): str(r) for t, r in zip(at["temperature"], at["regime"], strict=True)}
        for _, row in at[at["regime"].isin(UNRESOLVED)].iterrows():
            i = order.index(float(row["temperature"]))
            flanks = [calls[order[j]] for j in (i - 1, i + 1) if 0 <= j < len(order)]
            side = mc_side(str(row["regime"]))
            if len(flanks) == 2 and all(is_sure(c) and mc_side(c) == side for c in flanks):
                continue
            out.append((_index(abs(float(row["lmc"]) - tau) + margin, se_of(row, "lmc")), float(row["temperature"])))
    return out


def _answer_ties(classified: pd.DataFrame, densities: list[float], by: str) -> list[tuple[float, float]]:
    out = []
    score = SCORE[by]
    for density in densities:
        try:
            answer = select_model(classified, density=density, by=by)
        except AdviceError:
            continue
        at = classified[classified["density"].apply(lambda d, x=density: math.isclose(float(d), x))]
        value = {float(r["temperature"]): (float(r[score]), se_of(r, score))
                 for _, r in at.iterrows()}
        chosen = value[answer["temperature"]]
        for tie in answer["indistinguishable_from"]:
            index = _index(abs(chosen[0] - value[tie][0]), combined_se(chosen[1], value[tie][1]))
            out += [(index, tie), (index, answer["temperature"])]
    return out


def _index(gap: float, se: float) -> float:
    # APT's index: how far the cell is from being settled, in standard errors; 0 without an SE.
    if math.isnan(se) or se <= 0:
        return 0.0
    return gap / se


def next_seeds(cells: pd.DataFrame, *, knob: str, densities: list[float], mc_threshold: float, cka_eps: float,
               confidence: float, margin: float, max_seeds: int, by: str, pending=(), n: int = 1) -> list[float] | None:
    """Return up to `n` temperatures that get one more dense seed, [] to wait for `pending`, or None when done.

    Args:
        cells: the rows reported so far (one per temperature, dense seed and density).
        knob: the study's knob.
        densities: its target densities.
        mc_threshold: the Regime-I threshold.
        cka_eps: the II-B tolerance.
        confidence: standard errors a call needs, already spent over the study's looks
            (`contract.seeds.study_confidence`).
        margin: seeds.margin, the boundary call's.
        max_seeds: the most dense seeds a temperature may get.
        by: the study's criterion (`analysis.advice.CRITERIA`).
        pending: temperatures with a trial in flight, or with every seed the searcher can give.
        n: how many temperatures to return at most.
    """
    if cells.empty:
        return [] if pending else None
    classified = classify(aggregate(cells), mc_threshold=mc_threshold, cka_eps=cka_eps, confidence=confidence,
                          margin=margin)
    wanted = seed_indices(classified, knob=knob, densities=densities, by=by)
    seeds = cells.groupby("temperature")["dense_seed"].nunique()
    busy = {float(t) for t in pending}
    free = sorted((index, t) for t, index in wanted.items()
                  if t not in busy and int(seeds.get(t, 0)) < max_seeds)
    if free:
        return [t for _, t in free[:n]]
    return [] if busy else None


def seed_rule_for(config: StudyConfig, *, by: str | None = None):
    """Return the seed rule of a study config, `rule(cells, pending=, n=)`, by `by` (default: its criterion)."""
    m = config.metrics
    return partial(next_seeds, knob=config.study.knob, densities=config.targets, mc_threshold=m.mc_threshold,
                   cka_eps=m.cka_eps, confidence=study_confidence(config), margin=config.seeds.margin,
                   max_seeds=int(config.seeds.max_seeds), by=by or config.criterion)
