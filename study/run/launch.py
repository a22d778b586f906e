"""Launching a study on Ray Tune: a grid over temperatures x dense seeds, or a search, resumable (DESIGN.md 3.2).

`run_study` checks the study folder (its lock, its config snapshot, a config read back from the
trials), restores Tune's experiment or starts a new one, fits it, and hands what Tune left to
`study.run.repair`, which computes what Tune never will and counts the outcome. It counts cells
from the study's own files (`contract.results`), not through `analysis` (the two sit side by
side on `trainables`); a search's rule comes from the caller. Ray's own output goes to a log
file (`study.run.output`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TextIO

from ray import tune

from contract.cells import count_finished
from contract.folders import REPAIR_PREFIX, TUNE_STATE, may_hold_results, trials_params
from contract.results import MANIFEST_FILE, give_up_tune_state, tune_state_lost
from contract.screen import DENSE_CACHE, SCREEN_FOLDER
from contract.store import is_uri
from study.config import StudyConfig, StudyError, cells_total, study_path, trial_budget
from study.run import disk, lock
# Studies launched before the callbacks moved pickled them as study.launch.*: the names stay importable
# from here (study.MOVED maps study.launch to this module) so that those studies still resume.
from study.run.callbacks import CsvLogger, JsonLogger, ProgressLine, run_config  # noqa: F401
from study.run.cluster import check_resources, check_storage, connect, build_param_space
from study.run.output import LOG_FILE, log_path, output_to, terminal
from study.run.repair import Outcome, fit, repair
from study.run.snapshot import run_settings_changed, save_config, same_config, saved_config
from study.run.version import code_version
from study.search.baselines import baseline_rule
from study.search.searchers import GridRule, PointsSearcher, RegimeSearcher, Rule, trial_slots, tune_config
from trainables.trial import run_trial

__all__ = ["Outcome", "StudyError", "run_study"]


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
            searches build their own (`study.search.baselines`).
        points: the trials to run instead of the grid, {"temperature", "dense_seed", "densities"}
            each (a screened study's full stage, `study.run.screen`).
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
    lost = tune_state_lost(path) if local and saved else None
    tuner = None
    if lost is None and saved and tune.Tuner.can_restore(path):
        tuner, lost = _restore(path, trainable, progress, run_config(config, config.study.name,
                                                                      config.study.storage, progress, verbose),
                               rule=rule if config.study.search == "regimes" else None, seed_rule=seed_rule)
    elif lost is None and saved and may_hold_results(path):
        # A driver killed in its first seconds leaves the snapshot (and perhaps Tune's first files)
        # but no result: nothing to lose by starting Tune afresh there.
        lost = f"no {TUNE_STATE}"
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
    if lost is not None and tune_state_lost(path) is None:
        give_up_tune_state(path, lost)
        out.write(f"Tune's experiment state of {path} cannot be read ({lost}); the cells it owes are computed in "
                  f"repair experiments inside it ({REPAIR_PREFIX}1, ...)\n")
    grid = None
    if tuner is not None:
        searched = config.chooses_trials or points is not None
        grid = fit(tuner, path, slots=trial_slots(config) if searched else None)
        progress.finish()
    return repair(config, path, grid, trainable, rules=(rule, seed_rule), verbose=verbose, out=out)


def _restore(path: str, trainable, progress: ProgressLine, run_config: tune.RunConfig, *, rule: Rule | None,
             seed_rule: Rule | None = None):
    # Tune's state can be readable as JSON and still not restorable: after a full disk a trial's
    # error file is empty and building its results raises EOFError. Such a state is given up
    # (never restored again) and the study's owed cells are repaired instead.
    try:
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
        progress.done = count_finished(tuner.get_results())
    except (EOFError, pickle.UnpicklingError, ValueError, RuntimeError, OSError) as err:
        full = disk.full_disk(path, err)
        if full:
            raise StudyError(full) from None
        return None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}"[:200]
    _replace_callbacks(tuner, run_config.callbacks, rule, seed_rule)
    return tuner, None


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
