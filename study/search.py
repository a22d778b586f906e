"""A Ray Tune Searcher that lets a rule choose which temperature to train next (study.search other than grid).

The regime rule (`analysis.search`) is handed in by the caller (`regimes run` builds it from the
config): `study` does not import `analysis`; the random and TPE rules are `study.baselines`.
`tune_config` builds the study's TuneConfig around the searcher, and `pending_trials` lets Tune
create as many trials at once as there are slots. The searcher's side of the work:

- each temperature the rule picks is queued once per dense seed, and those trials run first;
- at most `slots` trials are live at a time (the cluster's free trial slots); the rule is asked
  for one temperature at a time and told which temperatures are in flight, so several slots get
  different temperatures and no temperature is suggested twice;
- the rule sees the cells of finished trials only (every density of every dense seed of a
  temperature arrives before that temperature counts as visited);
- it stops (Searcher.FINISHED) when the rule says the search is done or `max_trials`
  temperatures have been suggested, once nothing is in flight;
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
from contract.row import RULE_KEYS, rule_keys
from study.owed import record_trial
from study.paths import trial_budget

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
    """

    def __init__(self, rule: Rule, *, dense_seeds: list[int], max_trials: int, slots: int,
                 manifest: str | None = None):
        super().__init__()
        self.rule, self.dense_seeds, self.max_trials, self.slots = rule, list(dense_seeds), max_trials, max(1, slots)
        self.manifest = manifest
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
            if temperature is None:
                return Searcher.FINISHED if not self.live else None
            self.visited.append(temperature)
            self.queue = [(temperature, seed) for seed in self.dense_seeds]
        temperature, seed = self.queue.pop(0)
        self.trials[trial_id] = (temperature, seed)
        self.live.add(trial_id)
        return {"temperature": temperature, "dense_seed": seed}

    def _ask_rule(self) -> float | None:
        if len(self.visited) >= self.max_trials:
            return None
        cells = self.cells()
        finished = set(cells["temperature"]) if len(cells) else set()
        # In flight, or suggested and never reported (its trials errored): not to be suggested again.
        pending = sorted({self.trials[t][0] for t in self.live} | (set(self.visited) - finished))
        answer = self.rule(cells, pending=pending, n=1)
        if not answer:
            return None
        if answer[0] in self.visited:
            raise RuntimeError(f"the search rule suggested temperature {answer[0]:g} again; it was already trained")
        return float(answer[0])

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
                "rows": self.rows}


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


def tune_config(config: StudyConfig, rule: Rule | None, *, manifest: str | None = None) -> tune.TuneConfig:
    """Return the study's TuneConfig: actors reused, and for a search its RegimeSearcher over `rule`.

    `manifest` is the local study folder whose manifest the searcher keeps (None in object storage).
    """
    if config.study.search == "grid":
        return tune.TuneConfig(reuse_actors=True)
    budget = trial_budget(config)
    searcher = RegimeSearcher(rule, dense_seeds=list(config.study.dense_seeds), max_trials=budget,
                              slots=trial_slots(config), manifest=manifest)
    return tune.TuneConfig(reuse_actors=True, search_alg=searcher, num_samples=budget * len(config.study.dense_seeds))


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
