"""Seeds where a call is uncertain: a study that starts with few dense seeds and adds them (docs/seeds.md).

`seeds.max_seeds` turns it on: every temperature first gets `study.dense_seeds`; then the seed
rule (`analysis.seeds`) adds one dense seed at a time, each a new trial of one temperature with
all its densities, where a cell's call is uncertain and matters, up to max_seeds per temperature.
The seeds added are fixed in advance (`added_seeds`: the integers after the largest of
study.dense_seeds), so a cell's seeds are a prefix of one sequence whatever the rule chose.

Calls stay valid although seeds were added after looking, by alpha spending over the planned
looks (`spent_confidence`): a cell may be looked at with n0, n0 + 1, ..., max_seeds seeds, and
each look's interval is made at 1/L of the study's error rate (Bonferroni over the L looks). The
event "the interval printed is wrong" lies inside "some look's interval is wrong", whose
probability is at most the sum of the looks' rates, whatever rule chose when to stop. The
price: wider intervals (2 SE become 2.5 SE over 4 looks).

`seeds.margin` is the equivalence call: a cell whose whole mc interval lies within margin of
mc_threshold is called "at the boundary" (I|II): more seeds would only say it sits on the line.
A cell that is neither called nor at the boundary is unresolved (I? or II?): the budget ran out.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Annotated, Optional

from pydantic import Field

from contract.section import Section


class SeedsSection(Section):
    """max_seeds: the most dense seeds a temperature may get (None: study.dense_seeds only); margin: mc units."""

    max_seeds: Optional[Annotated[int, Field(gt=0)]] = None
    margin: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


def added_seeds(dense_seeds: list[int], max_seeds: int | None) -> list[int]:
    """Return the seeds a temperature may get after `dense_seeds`, in the order they are added."""
    extra = (max_seeds or 0) - len(dense_seeds)
    start = max(dense_seeds) + 1
    return list(range(start, start + max(extra, 0)))


def looks(dense_seeds: list[int], max_seeds: int | None) -> int:
    """Return the number of looks a cell may get: one per seed count from len(dense_seeds) to max_seeds."""
    return max((max_seeds or 0) - len(dense_seeds), 0) + 1


def spent_confidence(confidence: float, n_looks: int) -> float:
    """Return the standard errors one look needs so that `n_looks` looks together err as `confidence` SEs once.

    Two-sided normal tails: 2 SE is a 4.55 % error rate; over 4 looks each gets 1.14 %, 2.53 SE.
    """
    if confidence <= 0 or n_looks <= 1:
        return confidence
    normal = NormalDist()
    tail = 2 * (1 - normal.cdf(confidence))
    return normal.inv_cdf(1 - tail / (2 * n_looks))


def study_confidence(config, confidence: float | None = None) -> float:
    """Return the SEs a call in a study of `config` needs: `confidence` (or metrics.confidence) spent over its looks."""
    given = config.metrics.confidence if confidence is None else confidence
    return spent_confidence(given, looks(list(config.study.dense_seeds), config.seeds.max_seeds))


def check_seeds(config) -> None:
    """Raise ValueError (one line naming the key) where seeds.max_seeds cannot work with the rest of `config`."""
    most, given = config.seeds.max_seeds, len(config.study.dense_seeds)
    if most is None:
        return
    if most <= given:
        raise ValueError(f"seeds.max_seeds: {most} is not more than the {given} study.dense_seeds, so no seed would "
                         f"be added; raise it (e.g. {given + 3}) or remove it")
    if not config.metrics.lmc:
        raise ValueError("seeds.max_seeds: seeds go where an mc call is uncertain and metrics.lmc is false; set it "
                         "to true, or remove seeds.max_seeds")
