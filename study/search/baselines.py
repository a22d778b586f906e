"""The searches a regime-guided search is judged against: random search and Optuna's TPE over the same candidates.

Both are rules with the protocol of `analysis.search.next_temperatures`, `rule(cells, pending=[...],
n=1) -> [temperature] | None`, so `study.search.RegimeSearcher` drives them exactly as it drives
the regime rule: each temperature suggested is trained once per dense seed, no temperature twice,
at most `study.max_trials` temperatures, at most as many trials in flight as the cluster has
slots, and the same save / restore on resume. Why not Tune's own `BasicVariantGenerator` and
`OptunaSearch` as they are: in Tune one suggestion is one trial, while here a suggestion is a
temperature trained with every dense seed (the independent unit of the study), and Tune's random
sampling of a `tune.choice` draws with replacement, which spends the budget on repeats.

- `RandomRule`: the candidates in an order drawn once from `study.search_seed`; it suggests the
  first one neither trained nor in flight, and is done when none is left.
- `TPERule`: Optuna's TPE sampler (`optuna.samplers.TPESampler`, the sampler Tune's `OptunaSearch`
  uses by default) on one integer parameter, the index of a temperature among the sorted
  candidates (a categorical parameter would hide their order from TPE's Parzen estimators, and
  it could only pick among untried ones at random), asked afresh before every suggestion with the
  finished temperatures told as completed trials. Their objective is what a user can see:
  validation accuracy, the mean over dense seeds and target densities (a diverged cell counts
  0), so the study needs a validation split. The sampler is seeded with `search_seed` plus the
  number of finished temperatures, so a resumed search asks exactly what the uninterrupted one
  would. A suggestion already trained or in flight is told its score (or skipped) and asked
  again, up to 20 times; then the first untried candidate in the random order is taken. TPE
  samples at random for its first `startup` temperatures (Optuna's default 10 would make every
  budget below 10 pure random search; here min(3, budget // 2)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class RandomRule:
    """Distinct candidates in an order fixed by a seed (see the module docstring)."""

    def __init__(self, candidates: list[float], *, seed: int):
        order = np.random.default_rng(seed).permutation(len(candidates))
        self.order = [float(candidates[i]) for i in order]

    def __call__(self, cells: pd.DataFrame, *, pending, n: int = 1) -> list[float] | None:
        """Return the next untried candidate, or None when every one was tried."""
        left = untried(self.order, cells, pending)
        return left[:n] if left else None


class TPERule:
    """Optuna's TPE on the candidates, objective the mean validation accuracy (see the module docstring)."""

    def __init__(self, candidates: list[float], *, densities: list[float], seed: int, startup: int):
        self.candidates, self.densities = sorted(float(c) for c in candidates), [float(d) for d in densities]
        self.seed, self.startup = seed, startup
        self.fallback = RandomRule(candidates, seed=seed)

    def __call__(self, cells: pd.DataFrame, *, pending, n: int = 1) -> list[float] | None:
        """Return TPE's next untried temperature, or None when every candidate was tried."""
        import optuna

        left = untried(self.fallback.order, cells, pending)
        if not left:
            return None
        scores = validation_scores(cells, self.densities)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=self.seed + len(scores), n_startup_trials=self.startup)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        space = {"index": optuna.distributions.IntDistribution(0, len(self.candidates) - 1)}
        for temperature, score in scores.items():
            study.add_trial(optuna.trial.create_trial(params={"index": self.candidates.index(temperature)},
                                                      distributions=space, value=score))
        for _ in range(20):
            trial = study.ask(space)
            temperature = self.candidates[trial.params["index"]]
            if temperature in left:
                return [temperature]
            if temperature in scores:
                study.tell(trial, scores[temperature])
            else:  # in flight: no score yet
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return left[:n]


def untried(order: list[float], cells: pd.DataFrame, pending) -> list[float]:
    """Return the temperatures of `order` that are neither in `cells` nor in `pending`, in that order."""
    seen = set(float(t) for t in pending) | (set(float(t) for t in cells["temperature"]) if len(cells) else set())
    return [t for t in order if t not in seen]


def validation_scores(cells: pd.DataFrame, densities: list[float]) -> dict[float, float]:
    """Return per finished temperature the mean validation accuracy over dense seeds and `densities` (NaN -> 0)."""
    if cells.empty or "val_acc" not in cells.columns:
        return {}
    at = cells[np.isin(np.round(cells["density"].astype(float), 12), np.round(densities, 12))]
    return {float(t): float(score) for t, score in at["val_acc"].fillna(0.0).groupby(at["temperature"]).mean().items()}


def baseline_rule(search: str, *, candidates: list[float], densities: list[float], seed: int, budget: int):
    """Return the rule of `search` ("random" or "optuna") over `candidates`, for a budget of `budget` temperatures."""
    if search == "random":
        return RandomRule(candidates, seed=seed)
    return TPERule(candidates, densities=densities, seed=seed, startup=max(1, min(3, budget // 2)))
