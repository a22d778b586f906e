"""Launching a study on Ray Tune: a grid over temperatures x dense seeds, or a search, resumable (DESIGN.md 3.2).

This module and `study.search` are the only ones under `study/` that import Ray. It counts
finished cells from Tune's own results, not through `analysis` (the two sit side by side on
`trainables`); a search's rule comes from the caller. By default Ray's own output (warnings,
worker tracebacks, raylet dumps) goes to a log file named in one line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import ray
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from contract.cells import count_finished
from contract.trial import param_space_keys
from study import lock
from study.baselines import baseline_rule
from study.config import StudyConfig, StudyError, is_uri
from study.paths import cells_total, study_path, trial_budget
from study.plan import clock
from study.version import code_version
from study.snapshot import save_config, same_config, saved_config
from study.search import Rule, cell_rows, pending_trials, trial_slots, tune_config
from trainables.trial import run_trial

LOG_FILE = "regimes-run.log"


@dataclass
class Outcome:
    """How a `run_study` call ended: the study path and cells done out of the total.

    For a search the total is the cells of the trials it started, and `search_unfinished` says
    whether its rule still had a temperature to try (an interrupted search).
    """

    path: str
    cells_done: int
    cells_total: int
    errored_trials: int
    search_unfinished: bool = False

    @property
    def complete(self) -> bool:
        """Whether every cell has been reported and a search has nothing left to try."""
        return self.cells_done >= self.cells_total and not self.search_unfinished


def build_param_space(config: StudyConfig, version: str = "unknown") -> dict:
    """Return Tune's param_space: the resolved config for every trial, a grid over temperature x dense seed.

    For the epochs knob on a local (or shared) file system, "dense_prefix" names the folder in
    which the trials of one dense seed share one dense run (`trainables.run.dense_prefix`). A search
    (study.search: regimes, random, optuna) leaves temperature and dense_seed to its searcher.
    """
    path = study_path(config)
    shared = f"{path}/dense_prefix" if config.study.knob == "epochs" and not is_uri(path) else None
    space = {"study_config": config.model_dump(mode="json"), "code_version": version, "dense_prefix": shared}
    if config.study.search == "grid":
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
              out: TextIO | None = None, rule: Rule | None = None) -> Outcome:
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

    Raises:
        StudyError: config mismatch with an existing study, resources the cluster lacks, or a
            search without its rule.
    """
    if config.study.search == "regimes" and rule is None:
        raise StudyError("study.search: regimes needs its rule: run it with `regimes run`, or pass "
                         "rule=analysis.search.rule_for(config)")
    if config.study.search in ("random", "optuna"):
        rule = baseline_rule(config.study.search, candidates=list(config.study.temperatures),
                             densities=config.targets, seed=config.study.search_seed, budget=trial_budget(config))
    path = study_path(config)
    with lock.held(path), _terminal(out) as out:
        saved = saved_config(path)
        if saved is not None and not same_config(saved, config):
            raise StudyError(f"{path} holds a study with a different config; give it a new study.name, "
                             "or pass --fresh to start over in a new directory (nothing is deleted)")
        ours = {lock.LOCK_FILE, LOG_FILE}
        if saved is None and not is_uri(path) and any(p.name not in ours for p in Path(path).iterdir()):
            raise _no_tune_state(path)
        out.write(f"study: {path}\n")
        if verbose:
            return _run_locked(config, path, saved=saved is not None, address=address, verbose=verbose, out=out,
                               rule=rule)
        log = _log_path(config, path)
        out.write(f"ray log: {log}\n")
        out.flush()
        with _output_to(log):
            return _run_locked(config, path, saved=saved is not None, address=address, verbose=verbose, out=out,
                               rule=rule)


def _may_hold_results(path: str) -> bool:
    # A driver killed in its first seconds leaves the snapshot (and perhaps Tune's first files)
    # but no result: nothing to lose by starting Tune afresh there. Remote storage is not listed.
    return is_uri(path) or any(Path(path).glob("*/result.json"))


def _no_tune_state(path: str) -> StudyError:
    return StudyError(f"{path} exists but holds no resumable Tune state; pass --fresh to start over in a "
                      "new directory, or give a new study.name")


@contextlib.contextmanager
def _terminal(out: TextIO | None):
    # Our lines go to the caller's stream, or to a duplicate of the terminal's stderr that the
    # redirection of Ray's output does not touch.
    if out is not None:
        yield out
        return
    stream = os.fdopen(os.dup(2), "w")
    try:
        yield stream
    finally:
        stream.close()


def _run_locked(config: StudyConfig, path: str, *, saved: bool, address: str | None, verbose: int,
                out: TextIO, rule: Rule | None) -> Outcome:
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
    progress = ProgressLine(cells_total(config), out=out, at_most=config.study.search != "grid")
    run_config = tune.RunConfig(
        name=config.study.name, storage_path=config.study.storage, verbose=min(verbose, 2) if verbose else 0,
        failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[JsonLogger(), CsvLogger(), progress, *_tracking(config)])
    if saved and tune.Tuner.can_restore(path):
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
        progress.done = count_finished(tuner.get_results())
        _replace_callbacks(tuner, run_config.callbacks)
    elif saved and _may_hold_results(path):
        raise _no_tune_state(path)
    else:  # a new study, or one stopped before Tune wrote its state or any result: start it in place
        save_config(path, config)
        tuner = tune.Tuner(trainable, param_space=build_param_space(config, code_version()), run_config=run_config,
                           tune_config=tune_config(config, rule))
    with pending_trials(trial_slots(config) if config.study.search != "grid" else None):
        grid = tuner.fit()
    progress.finish()
    errored = sum(1 for result in grid if result.error is not None)
    done = count_finished(grid)
    if config.study.search == "grid":
        return Outcome(path, done, progress.total, errored)
    # A search's size is what it chose to train; it is unfinished while its rule still has a temperature to try.
    total = len(grid) * len(config.pruning.densities)
    temperatures = {result.config.get("temperature") for result in grid}
    more = len(temperatures) < trial_budget(config) and rule(cell_rows(grid), pending=[], n=1) is not None
    return Outcome(path, done, total, errored, search_unfinished=more)


class _KeepStagedRows:
    # Ray Tune 2.60 loses rows when a failed trial restarts: its logger callbacks copy result.json
    # and progress.csv back from storage over the driver's staging copy, which holds the rows
    # reported since the last sync (a worker SIGKILLed right after reporting lost that cell, while
    # its checkpoint had moved past it, so no rerun would bring it back). The staging copy, when
    # this driver has one, is the newer: keep it; a resumed run (a new driver) still restores.
    def _restore_from_remote(self, file_name: str, trial) -> None:
        if Path(trial.local_path, file_name).exists():
            return
        super()._restore_from_remote(file_name, trial)


class JsonLogger(_KeepStagedRows, JsonLoggerCallback):
    """Tune's JSON logger (result.json), keeping rows across a trial's restart."""


class CsvLogger(_KeepStagedRows, CSVLoggerCallback):
    """Tune's CSV logger (progress.csv), keeping rows across a trial's restart."""


def _tracking(config: StudyConfig) -> list[tune.Callback]:
    # Ray Tune's own MLflow callback: a run per trial, the trial's config as params, every cell
    # row's numbers as metrics (step = the density's index in the trial); on the driver only.
    mlflow = config.tracking.mlflow
    if mlflow is None:
        return []
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    return [MLflowLoggerCallback(tracking_uri=mlflow.tracking_uri, experiment_name=mlflow.experiment,
                                 tags={"study": config.study.name})]


def _log_path(config: StudyConfig, path: str) -> Path:
    # Local studies keep the log beside their results; a URI study's log stays on this machine.
    if is_uri(path):
        return Path(tempfile.gettempdir()) / f"regimes-{config.study.name}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path) / LOG_FILE


@contextlib.contextmanager
def _output_to(log: Path):
    # Ray writes from this process (Python logging, C++ glog) and from the processes it spawns
    # (raylet, GCS), which inherit file descriptors 1 and 2: redirect both, at the fd level, for
    # the whole run; Ray processes started meanwhile keep writing to the log afterwards.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "a") as fh:
        fh.write(f"--- regimes run, {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()}\n")
        fh.flush()
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _replace_callbacks(tuner: tune.Tuner, callbacks: list) -> None:
    # Tuner.restore brings back the callbacks pickled at the first launch, with that run's counts;
    # this run's progress line replaces them (private attribute, checked against Ray 2.60).
    local = getattr(tuner, "_local_tuner", None)
    if local is not None and hasattr(local, "get_run_config"):
        local.get_run_config().callbacks = callbacks


class ProgressLine(tune.Callback):
    """Prints `cells done/total, elapsed, time left` instead of Tune's wide per-metric tables.

    For a search (`at_most`) the total is what its budget allows: "cells 12/<=48", and the time
    left is an upper bound.
    """

    def __init__(self, total: int, done: int = 0, *, out: TextIO | None = None, at_most: bool = False):
        self.total, self.done, self.out, self.at_most = total, done, out or sys.stderr, at_most
        self.started = time.monotonic()
        self.new = 0

    def __getstate__(self) -> dict:
        # Tune pickles callbacks with the experiment; streams cannot be pickled.
        return {"total": self.total, "done": self.done, "at_most": self.at_most}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["total"], state["done"], at_most=state.get("at_most", False))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        """Count one finished cell and print the progress line."""
        self.done += 1
        self.new += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.new * (self.total - self.done)
        status = "" if result.get("status") == "ok" else f" [{result.get('status')}]"
        bound = "<=" if self.at_most else ""
        self.out.write(f"cells {self.done}/{bound}{self.total}  elapsed {clock(elapsed)}  "
                       f"left {bound or '~'}{clock(left)}  "
                       f"(T={result.get('temperature'):g}, density={result.get('density'):g}){status}\n")
        self.out.flush()

    def on_trial_recover(self, iteration, trials, trial, **info):
        """Say in one line that a trial failed and is retried from its last finished density."""
        self._say_failed(trial, "retrying it from its last finished density")

    def on_trial_error(self, iteration, trials, trial, **info):
        """Say in one line that a trial failed for good (no failures left under resources.max_failures)."""
        self._say_failed(trial, "no retries left (resources.max_failures); run again to resume")

    def _say_failed(self, trial, what: str) -> None:
        self.out.write(f"trial T={trial.config.get('temperature'):g} seed={trial.config.get('dense_seed')} failed; "
                       f"{what} (traceback in {trial.error_file or 'the ray log'})\n")
        self.out.flush()

    def finish(self) -> None:
        """Print the closing line."""
        bound = "<=" if self.at_most else ""
        self.out.write(f"{self.done}/{bound}{self.total} cells done in {clock(time.monotonic() - self.started)}\n")
        self.out.flush()
