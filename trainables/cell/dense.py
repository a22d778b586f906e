"""Dense training at the trial's temperature (DESIGN.md 2.1): one run, or a share of the run its seed shares.

For the epochs knob on a folder every trial sees, the trials of one dense seed share one run
(`trainables.run.dense_prefix`): each takes the prefix it needs and trains only what nobody has.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from trainables.cell.state import TrialState
from trainables.data.dataset import Dataset
from trainables.run.dense_prefix import dense_at_epoch
from trainables.run.engine import evaluate, train
from trainables.run.settings import SGDRun


def train_dense(model: torch.nn.Module, data: Dataset, run: SGDRun, *, seed: int, shared: str | None = None,
                stops: list[int] | None = None) -> TrialState:
    """Train `model` in place with `run` and return the trial's fresh state (no density done yet).

    Args:
        model: the freshly initialised model on the data's device.
        data: device-resident dataset.
        run: the dense run at the trial's temperature (`trainables.cell.runs.dense_run`).
        seed: the dense seed (data order and augmentation; the init was seeded by the caller).
        shared: for the epochs knob, the folder where the trials of a study share their dense
            runs (None: train this trial's run alone).
        stops: with `shared`, the epochs at which the shared run keeps snapshots (the temperatures).
    """
    started = time.perf_counter()
    if shared is None:
        result = train(model, data, run, seed=seed)
        diverged = result.diverged
        share = {"epochs_trained": result.steps / run.schedule.steps_per_epoch, "seconds_waited": 0.0}
    else:
        snapshot, share = _shared_prefix(model, data, run, seed=seed, folder=Path(shared) / f"seed{seed}",
                                         stops=stops or [])
        model.load_state_dict(snapshot["model"])
        diverged = snapshot["diverged"]
    accuracy = math.nan if diverged else evaluate(model, data.x_test, data.y_test).accuracy
    val = math.nan if diverged or not data.has_validation else evaluate(model, data.x_val, data.y_val).accuracy
    return TrialState(model.state_dict(), diverged, accuracy,
                      seconds_dense=time.perf_counter() - started - share["seconds_waited"],
                      seconds_dense_wait=share["seconds_waited"], dense_epochs_trained=share["epochs_trained"],
                      dense_val_acc=val)


def _shared_prefix(model: torch.nn.Module, data: Dataset, run: SGDRun, *, seed: int, folder: Path,
                   stops: list[int]) -> tuple[dict, dict]:
    epoch = run.steps // run.schedule.steps_per_epoch

    def advance(snapshot, stop, heartbeat):
        if snapshot is not None:
            model.load_state_dict(snapshot["model"])
            if snapshot["diverged"]:
                return dict(snapshot)
        result = train(model, data, run.replace(steps=stop * run.schedule.steps_per_epoch),
                       seed=seed, on_epoch=lambda *_: heartbeat(),
                       start_epoch=0 if snapshot is None else snapshot["epoch"],
                       optimizer_state=None if snapshot is None else snapshot["optimizer"])
        return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": result.optimizer_state, "diverged": result.diverged}

    return dense_at_epoch(folder, epoch, advance=advance, stops=stops)
