"""What Tune writes and prints for a study run: the progress line, the result loggers, MLflow.

`run_config` is the RunConfig of a study's Tune experiment (its own or a repair) with these
callbacks; `study.run.launch` is the only user.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from study.config import StudyConfig
from study.run.failures import new_fault_note
from study.run.plan import clock


def run_config(config: StudyConfig, name: str, storage_path: str, progress: "ProgressLine",
                verbose: int) -> tune.RunConfig:
    """Return the RunConfig of one of the study's Tune experiments (`name` under `storage_path`)."""
    return tune.RunConfig(
        name=name, storage_path=storage_path, verbose=min(verbose, 2) if verbose else 0,
        failure_config=tune.FailureConfig(max_failures=config.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[JsonLogger(), CsvLogger(), progress, *_tracking(config)])


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
    # Its TensorBoard logger: event files in each trial folder, one step per cell row.
    callbacks = []
    if config.tracking.tensorboard:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    mlflow = config.tracking.mlflow
    if mlflow is None:
        return callbacks
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    return [*callbacks, MLflowLoggerCallback(tracking_uri=mlflow.tracking_uri, experiment_name=mlflow.experiment,
                                             tags={"study": config.study.name})]


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
        # Why, where the trial could say it before its process ended (a hang, memory: study.run.failures).
        seen = getattr(self, "_notes_seen", {})
        why, seen[trial.trial_id] = new_fault_note(getattr(trial, "path", None), seen.get(trial.trial_id, 0))
        self._notes_seen = seen
        self.out.write(f"trial T={trial.config.get('temperature'):g} seed={trial.config.get('dense_seed')} failed"
                       f"{f' ({why})' if why else ''}; {what} (traceback in {trial.error_file or 'the ray log'})\n")
        self.out.flush()

    def finish(self) -> None:
        """Print the closing line."""
        bound = "<=" if self.at_most else ""
        self.out.write(f"{self.done}/{bound}{self.total} cells done in {clock(time.monotonic() - self.started)}\n")
        self.out.flush()
