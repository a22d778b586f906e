"""Launching a study on Ray Tune: a grid over temperatures x dense seeds, or a search, resumable (DESIGN.md 3.2).

With `study.search` and `study.callbacks`, the only modules under `study/` that import Ray. It
counts cells from the study's own files (`contract.results`), not through `analysis` (the two sit
side by side on `trainables`); a search's rule comes from the caller. Cells that Tune will never
compute again (a deleted trial folder, a damaged result file, an experiment state that cannot be
read) are computed by a repair experiment inside the study. Ray's own output goes to a log file
(`study.output`).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import ray
from ray import tune

from contract.cells import count_finished
from contract.folders import REPAIR_PREFIX, may_hold_results, next_repair_name, reported_rows, trials_params
from contract.results import MANIFEST_FILE, missing_cells, owed_cells, reported_cells
from contract.row import RULE_KEYS, rule_keys
from contract.store import join
from contract.screen import DENSE_CACHE, SCREEN_FOLDER
from contract.trial import param_space_keys
from study import lock, owed
from study.baselines import baseline_rule
# Studies launched before the callbacks moved to study.callbacks pickled them as study.launch.*:
# the names stay importable from here so that those studies still resume.
from study.callbacks import CsvLogger, JsonLogger, ProgressLine, run_config  # noqa: F401
from study.config import StudyConfig, StudyError, is_uri
from study.failures import out_of_memory_line
from study.paths import cells_total, study_path, trial_budget
from study.version import code_version
from study.output import LOG_FILE, log_path, output_to, terminal
from study.snapshot import run_settings_changed, save_config, same_config, saved_config
from study.search import (GridRule, PointsSearcher, RegimeSearcher, Rule, cell_rows, pending_trials, trial_slots,
                          tune_config)
from trainables.trial import run_trial



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


def _base_space(config: StudyConfig, version: str, dense_cache: str | None = None) -> dict:
    # What every trial receives besides its point: the resolved config, the code, the shared dense
    # folder, and a screened study's dense cache (contract.screen).
    path = study_path(config)
    shared = f"{path}/dense_prefix" if config.study.knob == "epochs" and not is_uri(path) else None
    return {"study_config": config.model_dump(mode="json"), "code_version": version, "dense_prefix": shared,
            "dense_cache": dense_cache}


def build_param_space(config: StudyConfig, version: str = "unknown", dense_cache: str | None = None) -> dict:
    """Return Tune's param_space: the resolved config for every trial, a grid over temperature x dense seed.

    For the epochs knob on a local (or shared) file system, "dense_prefix" names the folder in
    which the trials of one dense seed share one dense run (`trainables.run.dense_prefix`). A search
    (study.search: regimes, random, optuna) leaves temperature and dense_seed to its searcher.
    """
    space = _base_space(config, version, dense_cache)
    if not config.chooses_trials and config.study.screen_epochs is None:
        space.update(temperature=tune.grid_search(list(config.study.temperatures)),
                     dense_seed=tune.grid_search(list(config.study.dense_seeds)))
    unknown = set(space) - set(param_space_keys())
    if unknown:  # a key the trial would ignore: a bug here, not a user's error
        raise RuntimeError(f"param_space keys {sorted(unknown)} are not TrialInput fields (contract/trial.py)")
    return space


def connect(address: str | None, *, verbose: int = 0) -> None:
    """Start an embedded local Ray (address None) or join the cluster at `address` ("auto", ray://...)."""
    if ray.is_initialized():
        return
    import logging

    kwargs = {"include_dashboard": False, "logging_level": logging.INFO if verbose else logging.WARNING,
              "log_to_driver": bool(verbose)}
    ray.init(address=address or "local", **kwargs)


def cluster_resources(address: str) -> dict:
    """Return the CPUs, GPUs and memory of the Ray cluster at `address` (for `regimes plan`)."""
    connect(address)
    return dict(ray.cluster_resources())


def check_resources(config: StudyConfig) -> None:
    """Raise StudyError when a trial asks for more CPUs or GPUs than the cluster has (Tune would wait forever)."""
    have = ray.cluster_resources()
    cpu, gpu = config.resources.cpu, config.resources.gpu
    if gpu > have.get("GPU", 0):
        raise StudyError(f"resources.gpu: a trial asks for {gpu:g} GPU but the cluster has {have.get('GPU', 0):g}; "
                         "set resources.gpu: 0 or join a cluster with GPUs (--address)")
    if cpu > have.get("CPU", 0):
        raise StudyError(f"resources.cpu: a trial asks for {cpu:g} CPUs but the cluster has {have.get('CPU', 0):g}; "
                         f"lower resources.cpu")


def check_storage(config: StudyConfig) -> None:
    """Raise StudyError for a local storage path on a cluster of several nodes not declared shared.

    Ray Tune (2.x) does not sync results between nodes: each trial writes to storage_path from
    its own node, so a path only the head sees would lose the other nodes' results (DESIGN.md 6.3).
    """
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    if nodes > 1 and not is_uri(config.study.storage) and not config.study.shared_storage:
        raise StudyError(f"study.storage: {config.study.storage!r} is a local path and the cluster has {nodes} "
                         "nodes, which write results from where their trials run; use a URI (s3://bucket/prefix) "
                         "or a file system every node mounts and set study.shared_storage: true")


def run_study(config: StudyConfig, *, address: str | None = None, verbose: int = 0,
              out: TextIO | None = None, rule: Rule | None = None, points: list[dict] | None = None,
              dense_cache: str | None = None, seed_rule: Rule | None = None) -> Outcome:
    """Run (or resume) the study described by `config` and return how far it got.

    An existing study directory with the same config is resumed: finished densities are not
    recomputed. One with a different config is refused (use a new name or `--fresh`).

    Args:
        config: the validated, path-resolved config.
        address: Ray cluster to join; None starts an embedded local one.
        verbose: 0 prints the study path, progress lines and the log file's name, and sends Ray's
            own output to that log file; 1 or more shows Tune's output on the terminal too.
        out: where our lines go (default: the terminal's stderr).
        rule: for study.search: regimes, the rule that picks temperatures
            (`analysis.search.rule_for(config)`); `regimes run` passes it. The random and optuna
            searches build their own (`study.baselines`).
        points: the trials to run instead of the grid, {"temperature", "dense_seed", "densities"}
            each (a screened study's full stage, `study.screen`).
        dense_cache: the folder where trials find and leave their dense models (`contract.screen`).
        seed_rule: with seeds.max_seeds, the rule that adds seeds (`analysis.seeds.seed_rule_for`).

    Raises:
        StudyError: config mismatch with an existing study, resources the cluster lacks, or a
            search without its rule.
    """
    if config.study.screen_epochs is not None and points is None:
        raise StudyError("study.screen_epochs: a screened study runs in two stages: run it with `regimes run`, or "
                         "study.screen.run_screened")
    if config.study.search == "regimes" and rule is None and points is None:
        raise StudyError("study.search: regimes needs its rule: run it with `regimes run`, or pass "
                         "rule=analysis.search.rule_for(config)")
    if config.seeds.max_seeds is not None and seed_rule is None and points is None:
        raise StudyError("seeds.max_seeds needs its seed rule: run it with `regimes run`, or pass "
                         "seed_rule=analysis.seeds.seed_rule_for(config)")
    if config.study.search == "grid" and config.seeds.max_seeds is not None:
        rule = GridRule(config.study.temperatures)
    if config.study.search in ("random", "optuna"):
        rule = baseline_rule(config.study.search, candidates=list(config.study.temperatures),
                             densities=config.targets, seed=config.study.search_seed, budget=trial_budget(config))
    path = study_path(config)
    with lock.held(path), terminal(out) as out:
        snapshot = saved_config(path)
        saved = snapshot or _config_of_trials(path)
        if saved is not None and not same_config(saved, config):
            raise StudyError(f"{path} holds a study with a different config; give it a new study.name, "
                             "or pass --fresh to start over in a new directory (nothing is deleted)")
        if saved is not None and (snapshot is None or run_settings_changed(snapshot, config)):
            # A deleted snapshot (the trials' own config is this command's), or a study moved or
            # copied here, or given a longer trial timeout: the snapshot says so, and trials read it.
            save_config(path, config)
        ours = {lock.LOCK_FILE, LOG_FILE, SCREEN_FOLDER, DENSE_CACHE, MANIFEST_FILE}
        if saved is None and not is_uri(path) and any(p.name not in ours and not p.name.startswith(".")
                                                      for p in Path(path).iterdir()):
            raise _no_tune_state(path)
        out.write(f"study: {path}\n")
        if verbose:
            return _run_locked(config, path, saved=saved is not None, address=address, verbose=verbose, out=out,
                               rule=rule, points=points, dense_cache=dense_cache, seed_rule=seed_rule)
        log = log_path(config, path)
        out.write(f"ray log: {log}\n")
        out.flush()
        with output_to(log):
            return _run_locked(config, path, saved=saved is not None, address=address, verbose=verbose, out=out,
                               rule=rule, points=points, dense_cache=dense_cache, seed_rule=seed_rule)


def _config_of_trials(path: str) -> dict | None:
    # A deleted config snapshot is read back from the config every trial received (params.json)
    # and written again once it is found to be this command's; None where no trial has one.
    given = (params.get("study_config") for params in ([] if is_uri(path) else trials_params(path)))
    return next((config for config in given if isinstance(config, dict)), None)


def _no_tune_state(path: str) -> StudyError:
    return StudyError(f"{path} exists but holds no resumable Tune state; pass --fresh to start over in a "
                      "new directory, or give a new study.name")


def _run_locked(config: StudyConfig, path: str, *, saved: bool, address: str | None, verbose: int,
                out: TextIO, rule: Rule | None, points: list[dict] | None, dense_cache: str | None,
                seed_rule: Rule | None) -> Outcome:
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # TensorBoard logging dominates driver time
    if not verbose:
        # The progress line replaces Tune's output: its legacy reporter at verbose 0 prints nothing,
        # and a checkpoint per density makes Tune warn about frequent experiment syncs, harmlessly.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    connect(address, verbose=verbose)
    check_resources(config)
    check_storage(config)
    trainable = tune.with_resources(run_trial, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
    total = cells_total(config) if points is None else sum(len(p["densities"]) for p in points)
    progress = ProgressLine(total, out=out, at_most=config.chooses_trials and points is None)
    local = not is_uri(path)
    lost = owed.tune_state_lost(path) if local and saved else None
    tuner = None
    if lost is None and saved and tune.Tuner.can_restore(path):
        tuner, lost = _restore(path, trainable, progress, run_config(config, config.study.name,
                                                                      config.study.storage, progress, verbose),
                               rule=rule if config.study.search == "regimes" else None, seed_rule=seed_rule)
    elif lost is None and saved and may_hold_results(path):
        # A driver killed in its first seconds leaves the snapshot (and perhaps Tune's first files)
        # but no result: nothing to lose by starting Tune afresh there.
        lost = "no experiment_state-*.json"
    elif lost is None:  # a new study, or one stopped before Tune wrote its state or any result: start it in place
        save_config(path, config)
        chosen = tune_config(config, rule, manifest=path if local else None, seed_rule=seed_rule) \
            if points is None else \
            tune.TuneConfig(reuse_actors=True, search_alg=PointsSearcher(points), num_samples=len(points))
        tuner = tune.Tuner(trainable, param_space=build_param_space(config, code_version(), dense_cache),
                           run_config=run_config(config, config.study.name, config.study.storage, progress, verbose),
                           tune_config=chosen)
    if lost is not None and not local:
        raise _no_tune_state(path)
    if lost is not None and owed.tune_state_lost(path) is None:
        owed.give_up_tune_state(path, lost)
        out.write(f"Tune's experiment state of {path} cannot be read ({lost}); the cells it owes are computed in "
                  f"repair experiments inside it ({REPAIR_PREFIX}1, ...)\n")
    grid = None
    if tuner is not None:
        searched = config.chooses_trials or points is not None
        grid = _fit(tuner, path, slots=trial_slots(config) if searched else None)
        progress.finish()
    return _repair(config, path, grid, trainable, rules=(rule, seed_rule), verbose=verbose, out=out)


def _restore(path: str, trainable, progress: ProgressLine, run_config: tune.RunConfig, *, rule: Rule | None,
             seed_rule: Rule | None = None):
    # Tune's state can be readable as JSON and still not restorable: after a full disk a trial's
    # error file is empty and building its results raises EOFError. Such a state is given up
    # (never restored again) and the study's owed cells are repaired instead.
    try:
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
        progress.done = count_finished(tuner.get_results())
    except (EOFError, pickle.UnpicklingError, ValueError, RuntimeError, OSError) as err:
        full = owed.full_disk(path, err)
        if full:
            raise StudyError(full) from None
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}"[:200]
    _replace_callbacks(tuner, run_config.callbacks, rule, seed_rule)
    return tuner, None


def _fit(tuner: tune.Tuner, path: str, *, slots: int | None):
    # A full disk makes Tune's driver fail while writing its state or reading a trial's (empty)
    # error file: one line naming the disk; the rows already reported stay in their result files.
    try:
        with pending_trials(slots):
            return tuner.fit()
    except (EOFError, pickle.UnpicklingError, OSError, RuntimeError) as err:
        full = None if is_uri(path) else owed.full_disk(path, err)
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


def _repair(config: StudyConfig, path: str, grid, trainable, *, rules: tuple, verbose: int,
            out: TextIO) -> Outcome:
    # Every owed cell (contract.results) that no trial folder reports and that Tune will not
    # compute again (its trial finished, or Tune's state is given up) is computed by a repair
    # experiment, on a disk or in object storage; trials Tune resumes itself (errored,
    # interrupted) are left to it.
    densities = list(config.pruning.densities)
    errored = sum(1 for result in grid if result.error is not None) if grid is not None else 0
    local = not is_uri(path)
    full = owed.full_disk(path) if errored and local else None  # failed on a full disk: say so, not "run again"
    if full:
        raise StudyError(full)
    waiting = set() if grid is None else {(float(r.config["temperature"]), int(r.config["dense_seed"]))
                                          for r in grid if not _finished_by_tune(r, densities)}
    interrupted = grid is not None and any(r.error is None and not _finished_by_tune(r, densities) for r in grid)
    missing = {trial: owe for trial, owe in missing_cells(config, path).items() if trial not in waiting}
    repair = []
    if missing and not interrupted:
        full = owed.full_disk(path) if local else None
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
    cells = _disk_cells(path) if grid is None else cell_rows(grid)
    more = _search_goes_on(config, grid, rules, cells)
    stuck = memory
    if more and grid is None:
        stuck = (f"the search's Tune state is lost ({owed.tune_state_lost(path)}), so it cannot choose further "
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
    tuner = tune.Tuner(trainable, param_space=_base_space(config, code_version(), cache),
                       run_config=run_config(config, name, path, progress, verbose),
                       tune_config=tune.TuneConfig(reuse_actors=True, search_alg=PointsSearcher(points),
                                                   num_samples=len(points)))
    grid = _fit(tuner, path, slots=trial_slots(config))
    progress.finish()
    return grid


def _disk_cells(path: str):
    # The rule's view of a study whose Tune state is lost: every reported row, from the trial folders.
    import pandas as pd

    rows = [rule_keys(row) for row in reported_rows(path) if "density" in row]
    frame = pd.DataFrame(rows, columns=None if rows else sorted(RULE_KEYS))
    return frame.drop_duplicates(subset=["temperature", "dense_seed", "density"], keep="last") if rows else frame


def _replace_callbacks(tuner: tune.Tuner, callbacks: list, rule: Rule | None, seed_rule: Rule | None = None) -> None:
    # Tuner.restore brings back the callbacks pickled at the first launch, with that run's counts,
    # and the regime search's rule as first given (its --by): this run's progress line and rule
    # replace them (private attributes, checked against Ray 2.60).
    local = getattr(tuner, "_local_tuner", None)
    if local is not None and hasattr(local, "get_run_config"):
        local.get_run_config().callbacks = callbacks
    searcher = getattr(getattr(local, "_tune_config", None), "search_alg", None)
    if isinstance(searcher, RegimeSearcher):  # None keeps the pickled one (a random or TPE search's own rule)
        searcher.rule, searcher.seed_rule = rule or searcher.rule, seed_rule or getattr(searcher, "seed_rule", None)
