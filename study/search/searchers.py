"""A Ray Tune Searcher that lets a rule choose which temperature to train next (study.search other than grid).

The regime rule (`analysis.search`) is handed in by the caller (`regimes run` builds it from the
config): `study` does not import `analysis`; the random and TPE rules are `study.search.baselines`.
`tune_config` builds the study's TuneConfig around the searcher, and `pending_trials` lets Tune
create as many trials at once as there are slots. The searcher's side of the work:

- each temperature the rule picks is queued once per dense seed, and those trials run first;
- at most `slots` trials are live at a time (the cluster's free trial slots); the rule is asked
  for one temperature at a time and told which temperatures are in flight, so several slots get
  different temperatures and no temperature is suggested twice;
- the rule sees the cells of finished trials only (every density of every dense seed of a
  temperature arrives before that temperature counts as visited);
- with a seed rule (seeds.max_seeds, `contract.seeds`), once the temperature rule is done it asks
  the seed rule which temperature gets one more dense seed (the next of `more_seeds`, one trial
  with all its densities), until the seed rule is done or every temperature has every seed; a
  grid with added seeds is this searcher over `GridRule` (every temperature once, in order);
- it stops (Searcher.FINISHED) when the rules say they are done, once nothing is in flight;
- `save`/`restore` keep its whole state (queue, live trials, cells seen), which Tune writes with
  the experiment state at the same moment: `Tuner.restore` resumes a search without repeating
  or losing a trial. Concurrency is limited here rather than by Tune's ConcurrencyLimiter, whose
  set of live trials is not saved (Ray 2.60), so trials resumed after a restore would never
  report back through it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from typing import Callable

import pandas as pd
import ray
from ray import tune
from ray.tune.search import Searcher

from contract.cells import finished_cells
from contract.config import StudyConfig
from contract.seeds import added_seeds
from contract.row import RULE_KEYS, rule_keys
from contract.results import record_trial
from study.config import trial_budget

Rule = Callable[..., "list[float] | None"]


def cell_rows(results) -> pd.DataFrame:
    """Return the cells of a Tune ResultGrid (or any iterable of results) with the keys the rule reads."""
    rows = [rule_keys(row) for result in results
            for row in finished_cells(result.metrics_dataframe).to_dict("records")]
    return pd.DataFrame(rows, columns=None if rows else sorted(RULE_KEYS))


class RegimeSearcher(Searcher):
    """Suggests (temperature, dense_seed) configs chosen by `rule`.

    Args:
        rule: `rule(cells, pending=[temperatures], n=1)` returning temperatures to try, [] to wait,
            or None when the search is done (`analysis.search.rule_for`).
        dense_seeds: every temperature is trained once per seed.
        max_trials: the most temperatures to suggest.
        slots: the most trials live at once.
        manifest: the local study folder whose manifest lists every trial that has reported
            (`contract.results`: the cells a search owes), or None (a study in object storage).
        seed_rule: `seed_rule(cells, pending=[temperatures], n=1)` returning the temperature that
            gets its next seed, [] to wait, or None when no seed is worth adding
            (`analysis.seeds.seed_rule_for`); None: no seeds are added.
        more_seeds: the seeds a temperature may get after dense_seeds, in order.
    """

    def __init__(self, rule: Rule, *, dense_seeds: list[int], max_trials: int, slots: int,
                 manifest: str | None = None, seed_rule: Rule | None = None, more_seeds: list[int] = ()):
        super().__init__()
        self.rule, self.dense_seeds, self.max_trials, self.slots = rule, list(dense_seeds), max_trials, max(1, slots)
        self.manifest = manifest
        self.seed_rule, self.more_seeds = seed_rule, list(more_seeds)
        self.added: dict[float, int] = {}  # temperature -> how many of more_seeds it was given
        self.visited: list[float] = []  # temperatures suggested, in order
        self.queue: list[tuple[float, int]] = []  # (temperature, seed) still to hand out
        self.trials: dict[str, tuple[float, int]] = {}
        self.live: set[str] = set()
        self.rows: dict[str, list[dict]] = {}  # trial id -> its reported rows, in order

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        """Accept any metric and mode: the rule reads every cell, not one objective."""
        return True

    def suggest(self, trial_id: str) -> dict | None:
        """Return the next trial's {"temperature", "dense_seed"}, None to wait, or FINISHED."""
        if len(self.live) >= self.slots:
            return None
        if not self.queue:
            temperature = self._ask_rule()
            if temperature is _WAIT and self.live:
                return None
            if isinstance(temperature, float):
                self.visited.append(temperature)
                self.queue = [(temperature, seed) for seed in self.dense_seeds]
            else:
                self.queue = self._ask_seed_rule()
            if not self.queue:
                return Searcher.FINISHED if not self.live else None
        temperature, seed = self.queue.pop(0)
        self.trials[trial_id] = (temperature, seed)
        self.live.add(trial_id)
        return {"temperature": temperature, "dense_seed": seed}

    def _ask_rule(self) -> float | object | None:
        # A temperature, _WAIT (the rule waits for trials in flight), or None (the rule is done).
        if len(self.visited) >= self.max_trials:
            return None
        cells = self.cells()
        finished = set(cells["temperature"]) if len(cells) else set()
        # In flight, or suggested and never reported (its trials errored): not to be suggested again.
        pending = sorted({self.trials[t][0] for t in self.live} | (set(self.visited) - finished))
        answer = self.rule(cells, pending=pending, n=1)
        if answer is None:
            return None
        if not answer:
            return _WAIT
        if answer[0] in self.visited:
            raise RuntimeError(f"the search rule suggested temperature {answer[0]:g} again; it was already trained")
        return float(answer[0])

    def _ask_seed_rule(self) -> list[tuple[float, int]]:
        # [(temperature, its next seed)], or [] when the seed rule waits or is done.
        if getattr(self, "seed_rule", None) is None:  # older pickles lack it
            return []
        live = {self.trials[t][0] for t in self.live}
        full = {t for t, given in self.added.items() if given >= len(self.more_seeds)}
        answer = self.seed_rule(self.cells(), pending=sorted(live | full), n=1)
        if not answer:
            return []
        temperature = float(answer[0])
        if temperature in live | full or temperature not in self.visited:
            raise RuntimeError(f"the seed rule asked for a seed at temperature {temperature:g}, which is in flight, "
                               "has every seed, or was never trained")
        given = self.added.get(temperature, 0)
        self.added[temperature] = given + 1
        return [(temperature, self.more_seeds[given])]

    def cells(self) -> pd.DataFrame:
        """Return the cells of finished trials, one row per (temperature, dense seed, density)."""
        rows = [row for trial_id, reported in self.rows.items() if trial_id not in self.live
                for row in finished_cells(pd.DataFrame(reported)).to_dict("records")]
        return pd.DataFrame(rows, columns=None if rows else sorted(RULE_KEYS))

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Keep the cell a trial reported (`cells` keeps the last report of a density, as every reader does)."""
        if trial_id in self.trials and "density" in result:
            if getattr(self, "manifest", None) is not None and trial_id not in self.rows:  # older pickles lack it
                record_trial(self.manifest, *self.trials[trial_id])
            self.rows.setdefault(trial_id, []).append(rule_keys(result))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Free the trial's slot; its cells now count (an errored trial's reported cells count too)."""
        self.live.discard(trial_id)

    def save(self, checkpoint_path: str) -> None:
        """Write the searcher's state (not the rule: Tune pickles the searcher itself with the experiment)."""
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self._state(), fh)

    def restore(self, checkpoint_path: str) -> None:
        """Read back the state written by `save`."""
        with open(checkpoint_path, "rb") as fh:
            state = pickle.load(fh)
        # Searchers saved before rows were kept as reported held {density: row} per trial.
        state["rows"] = {t: list(r.values()) if isinstance(r, dict) else r for t, r in state.get("rows", {}).items()}
        for key, value in state.items():
            setattr(self, key, value)

    def _state(self) -> dict:
        return {"visited": self.visited, "queue": self.queue, "trials": self.trials, "live": self.live,
                "rows": self.rows, "added": self.added, "more_seeds": self.more_seeds}


_WAIT = object()  # a rule's [] : wait for the trials in flight


class GridRule:
    """The grid as a rule: every temperature once, in the config's order (a grid whose seeds are added)."""

    def __init__(self, temperatures: list[float]):
        self.temperatures = [float(t) for t in temperatures]

    def __call__(self, cells: pd.DataFrame, pending=(), n: int = 1) -> list[float] | None:
        """Return the next `n` temperatures not trained nor pending, or None when every one was handed out."""
        seen = set(pending) | (set(cells["temperature"]) if len(cells) else set())
        rest = [t for t in self.temperatures if t not in seen]
        return rest[:n] if rest else None


class PointsSearcher(Searcher):
    """Suggests a fixed list of trial configs, each once, then FINISHED: a repair's owed trials."""

    def __init__(self, points: list[dict]):
        super().__init__()
        self.points = [dict(p) for p in points]
        self.given: dict[str, dict] = {}

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        """Accept any metric and mode: the points are fixed."""
        return True

    def suggest(self, trial_id: str) -> dict | None:
        """Return the next point not handed out yet, or FINISHED."""
        if trial_id in self.given:
            return self.given[trial_id]
        if len(self.given) >= len(self.points):
            return Searcher.FINISHED
        self.given[trial_id] = self.points[len(self.given)]
        return self.given[trial_id]

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Nothing to learn: the points are fixed."""
        return None

    def save(self, checkpoint_path: str) -> None:
        """Write which points were handed out."""
        with open(checkpoint_path, "wb") as fh:
            pickle.dump({"points": self.points, "given": self.given}, fh)

    def restore(self, checkpoint_path: str) -> None:
        """Read back the state written by `save`."""
        with open(checkpoint_path, "rb") as fh:
            state = pickle.load(fh)
        self.points, self.given = state["points"], state["given"]


def tune_config(config: StudyConfig, rule: Rule | None, *, manifest: str | None = None,
                seed_rule: Rule | None = None) -> tune.TuneConfig:
    """Return the study's TuneConfig: actors reused, and where trials are chosen a RegimeSearcher.

    `rule` picks temperatures (a grid with added seeds: `GridRule`), `seed_rule` adds seeds
    (seeds.max_seeds); `manifest` is the local study folder whose manifest the searcher keeps
    (None in object storage).
    """
    if not config.chooses_trials:
        return tune.TuneConfig(reuse_actors=True)
    if config.study.search == "grid":
        rule = GridRule(config.study.temperatures)
    budget, seeds = trial_budget(config), list(config.study.dense_seeds)
    more = added_seeds(seeds, config.seeds.max_seeds)
    searcher = RegimeSearcher(rule, dense_seeds=seeds, max_trials=budget, slots=trial_slots(config),
                              manifest=manifest, seed_rule=seed_rule, more_seeds=more)
    return tune.TuneConfig(reuse_actors=True, search_alg=searcher, num_samples=budget * (len(seeds) + len(more)))


def trial_slots(config: StudyConfig) -> int:
    """Return how many trials the cluster runs at once (free trial slots; at least 1)."""
    have, gpu = ray.cluster_resources(), config.resources.gpu
    slots = int(have.get("CPU", 1) // config.resources.cpu)
    if gpu:
        slots = min(slots, int(have.get("GPU", 0) // gpu))
    return max(1, slots)


@contextlib.contextmanager
def pending_trials(slots: int | None):
    """Context in which Tune may create `slots` trials of a searched study at once (None: leave Tune's rule)."""
    # Ray 2.60 lets a custom Searcher that is not wrapped in a ConcurrencyLimiter have one PENDING
    # trial at a time (tune_controller._get_max_pending_trials): the second slot's trial is only
    # created once the first trial's worker has started, and on short trials it ran after it
    # (measured: the first two trials of a searched tiny study one after another, 5 s each). Our
    # searcher limits live trials to the slots itself (a ConcurrencyLimiter's live set is not
    # saved), so Tune may create that many at once: TUNE_MAX_PENDING_TRIALS_PG, read when fit()
    # builds its controller, unless the user set it.
    if slots is None or "TUNE_MAX_PENDING_TRIALS_PG" in os.environ:
        yield
        return
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(slots)
    try:
        yield
    finally:
        os.environ.pop("TUNE_MAX_PENDING_TRIALS_PG", None)
