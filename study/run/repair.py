"""After Tune: the cells Tune will never compute again are computed by a repair experiment, and the outcome counted.

Every owed cell (`contract.results`) that no trial folder reports and that Tune will not
compute again (its trial finished, or Tune's state is given up) is computed by a supplementary
Tune experiment inside the study (`repair-1`, ...: `contract.folders`), on a disk or in object
storage; trials Tune resumes itself (errored, interrupted) are left to it. A search whose rule
would still choose a trial is unfinished.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TextIO

import pandas as pd
from ray import tune

from contract.folders import next_repair_name, reported_rows
from contract.results import missing_cells, owed_cells, reported_cells, tune_state_lost
from contract.row import RULE_KEYS, rule_keys
from contract.screen import DENSE_CACHE
from contract.store import is_uri, join
from study.config import StudyConfig, StudyError, trial_budget
from study.run import disk
from study.run.callbacks import ProgressLine, run_config
from study.run.cluster import base_space
from study.run.failures import out_of_memory_line
from study.run.version import code_version
from study.search.searchers import PointsSearcher, cell_rows, pending_trials, trial_slots


@dataclass
class Outcome:
    """How a `run_study` call ended: the study path and cells done out of the total.

    For a search the total is the cells of the trials it started, and `search_unfinished` says
    whether its rule still had a temperature to try (an interrupted search). `stuck` is the line
    to print instead of "run the same command again" when running it again would not help.
    """

    path: str
    cells_done: int
    cells_total: int
    errored_trials: int
    search_unfinished: bool = False
    stuck: str | None = None

    @property
    def complete(self) -> bool:
        """Whether every cell has been reported and a search has nothing left to try."""
        return self.cells_done >= self.cells_total and not self.search_unfinished


def fit(tuner: tune.Tuner, path: str, *, slots: int | None):
    """Return `tuner.fit()`'s results, with at most `slots` trials pending at once (a search's).

    A full disk makes Tune's driver fail while writing its state or reading a trial's (empty)
    error file: one line naming the disk (StudyError); the rows already reported stay in their
    result files.
    """
    try:
        with pending_trials(slots):
            return tuner.fit()
    except (EOFError, pickle.UnpicklingError, OSError, RuntimeError) as err:
        full = None if is_uri(path) else disk.full_disk(path, err)
        if full:
            raise StudyError(full) from None
        raise


def _search_goes_on(config: StudyConfig, grid, rules: tuple, cells) -> bool:
    # Whether the temperature rule, or else the seed rule, would still choose a trial.
    rule, seed_rule = rules
    temperatures = {result.config.get("temperature") for result in grid} if grid is not None \
        else set(cells["temperature"]) if len(cells) else set()
    if len(temperatures) < trial_budget(config) and rule(cells, pending=[], n=1) is not None:
        return True
    return seed_rule is not None and seed_rule(cells, pending=[], n=1) is not None


def _finished_by_tune(result, densities: list[float]) -> bool:
    # A trial's function returns once it has reported its last density: Tune will not run it again.
    owed = result.config.get("densities") or densities
    return bool(result.metrics) and result.metrics.get("density") == owed[-1]


def repair(config: StudyConfig, path: str, grid, trainable, *, rules: tuple, verbose: int,
           out: TextIO) -> Outcome:
    """Compute by a repair experiment what no trial folder reports and Tune will not compute again; return the outcome.

    `grid` is what Tune's fit returned (None when its state is given up); `rules` the search's
    temperature rule and seed rule, asked whether the search would go on.
    """
    densities = list(config.pruning.densities)
    errored = sum(1 for result in grid if result.error is not None) if grid is not None else 0
    local = not is_uri(path)
    full = disk.full_disk(path) if errored and local else None  # failed on a full disk: say so, not "run again"
    if full:
        raise StudyError(full)
    waiting = set() if grid is None else {(float(r.config["temperature"]), int(r.config["dense_seed"]))
                                          for r in grid if not _finished_by_tune(r, densities)}
    interrupted = grid is not None and any(r.error is None and not _finished_by_tune(r, densities) for r in grid)
    missing = {trial: owe for trial, owe in missing_cells(config, path).items() if trial not in waiting}
    repair = []
    if missing and not interrupted:
        full = disk.full_disk(path) if local else None
        if full:
            raise StudyError(full)
        repair = _run_repair(config, path, missing, trainable, verbose=verbose, out=out)
        errored += sum(1 for result in repair if result.error is not None)
    trials = owed_cells(config, path)
    reported = reported_cells(path)
    done = sum((t, s, d) in reported for (t, s), owes in trials.items() for d in owes)
    total = sum(len(owes) for owes in trials.values())
    memory = out_of_memory_line([*(grid or []), *repair], config.resources.max_failures)
    if not config.chooses_trials or config.study.screen_epochs is not None:  # a screen's full stage: fixed points
        return Outcome(path, done, total, errored, stuck=memory)
    cells = disk_cells(path) if grid is None else cell_rows(grid)
    more = _search_goes_on(config, grid, rules, cells)
    stuck = memory
    if more and grid is None:
        stuck = (f"the search's Tune state is lost ({tune_state_lost(path)}), so it cannot choose further "
                 "temperatures; its trials so far are complete: read them with `regimes select`, or search "
                 "further in a new study (--fresh)")
    return Outcome(path, done, total, errored, search_unfinished=more, stuck=stuck)


def _run_repair(config: StudyConfig, path: str, missing: dict, trainable, *, verbose: int, out: TextIO):
    name = next_repair_name(path)
    points = [{"temperature": t, "dense_seed": s, "densities": owe} for (t, s), owe in missing.items()]
    cells = sum(len(owe) for owe in missing.values())
    out.write(f"repair: {cells} owed cell{'s' * (cells > 1)} of {len(points)} trial{'s' * (len(points) > 1)} that "
              f"no result file holds and Tune will not compute again, in {join(path, name)}\n")
    out.flush()
    progress = ProgressLine(cells, out=out)
    cache = f"{path}/{DENSE_CACHE}" if config.study.screen_epochs is not None else None
    tuner = tune.Tuner(trainable, param_space=base_space(config, code_version(), cache),
                       run_config=run_config(config, name, path, progress, verbose),
                       tune_config=tune.TuneConfig(reuse_actors=True, search_alg=PointsSearcher(points),
                                                   num_samples=len(points)))
    grid = fit(tuner, path, slots=trial_slots(config))
    progress.finish()
    return grid


def disk_cells(path: str):
    """Return the rule's view of a study whose Tune state is lost: every reported row, from the trial folders."""
    rows = [rule_keys(row) for row in reported_rows(path) if "density" in row]
    frame = pd.DataFrame(rows, columns=None if rows else sorted(RULE_KEYS))
    return frame.drop_duplicates(subset=["temperature", "dense_seed", "density"], keep="last") if rows else frame
