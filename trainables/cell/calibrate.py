"""What a study will cost, from a short calibration run of the engine on the trial's device.

`calibrate` times the three things a study spends its time on, with the config's model, data,
batch sizes and thread count: optimizer steps of dense training (its batch size and SAM), steps
of masked retraining, and one point of an LMC line (BatchNorm re-estimation plus an error pass
over the LMC subset). `study_cost` multiplies them by the study's counts. Each is timed after a
warm-up (the first steps of a process run several times slower: allocation, kernel selection),
which a trial pays once, not per step. Where the dataset's files are not on this machine (planning
a CIFAR study before fetching CIFAR), a built-in dataset is stood in for by random inputs of its
shape and size: step times depend on shapes, not on pixel values.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable
from dataclasses import dataclass

import torch

from contract.config import StudyConfig
from trainables.cell.runs import dense_run, retrain_run
from trainables.data.catalog import load_dataset
from trainables.data.dataset import Dataset, DatasetError
from trainables.data.split import hold_out_validation, take_subset
from trainables.method.landscape import linear_mode_connectivity
from trainables.method.pruning import prune
from trainables.models.catalog import build_model
from trainables.run.engine import train
from trainables.run.runtime import prepare, resolve_device
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun

LMC_PROBE_EXAMPLES = 2048
WARM_UP_STEPS = 5  # the first steps pay for allocation and kernel choice; they set the pace
MIN_STEPS = 5
# (input shape, training examples, test examples, classes, augmentation) of the datasets a
# study may plan before their files are here.
SHAPES = {"cifar10": ((3, 32, 32), 50_000, 10_000, 10, "crop_flip"),
          "cifar100": ((3, 32, 32), 50_000, 10_000, 100, "crop_flip")}


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit of work on one trial's device and threads.

    stand_in names the dataset that random inputs of its shape stood in for ("" when the real
    data was timed).
    """

    dense_step_s: float
    retrain_step_s: float
    lmc_point_s: float
    n_train: int
    stand_in: str = ""


def planning_data(spec: StudyConfig) -> tuple[Dataset, str]:
    """Return the study's dataset, or random inputs of its shape when its files are absent, and what stood in."""
    try:
        return load_dataset(spec.data.name, spec.data.root, device="cpu", download=False,
                            image_size=spec.data.image_size), ""
    except DatasetError:
        if spec.data.name not in SHAPES:
            raise
    shape, n_train, n_test, classes, augmentation = SHAPES[spec.data.name]
    generator = torch.Generator().manual_seed(0)
    x = lambda n: torch.randn(n, *shape, generator=generator)  # noqa: E731
    y = lambda n: torch.randint(0, classes, (n,), generator=generator)  # noqa: E731
    return Dataset(x(n_train), y(n_train), x(n_test), y(n_test), classes, augmentation), spec.data.name


def calibrate(spec: StudyConfig, *, steps: int = 60, budget_s: float = 40.0,
              say: Callable[[str], None] = lambda line: None) -> UnitCosts:
    """Return the seconds of one dense step, one retraining step and one LMC point for `spec`.

    Each run is warmed up with WARM_UP_STEPS steps, then timed over `steps` steps, or fewer (at
    least MIN_STEPS) where a quarter of `budget_s` would not hold them at the warm-up's pace: a
    large model on a slow CPU is timed in about `budget_s`, not in many minutes. `say` hears one
    line before each stage. Runs with the trial's thread count (resources.cpu) and restores the
    caller's afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    try:
        return _calibrate(spec, steps=steps, budget_s=budget_s, say=say)
    finally:
        torch.set_num_threads(threads)


def _calibrate(spec: StudyConfig, *, steps: int, budget_s: float, say: Callable[[str], None]) -> UnitCosts:
    device = resolve_device(spec.resources.device)
    data, stand_in = planning_data(spec)
    if spec.data.train_subset is not None and not stand_in:  # trials train on the subset ...
        data = take_subset(data, spec.data.train_subset, seed=spec.data.train_subset_seed)
    if spec.data.validation and not stand_in:  # ... less what the validation split holds out
        data = hold_out_validation(data, spec.data.validation, seed=spec.data.validation_seed)
    model = build_model(spec.model.name, input_shape=data.input_shape, num_classes=data.num_classes,
                        depth=spec.model.depth, width=spec.model.width, kwargs=spec.model.kwargs)
    model, data = prepare(model, data, device)
    n_train = int(data.x_train.shape[0])
    # The dense run at its base settings (the knob moves the schedule, not the cost of a step) and the retraining run.
    dense = dense_run("lr", spec.dense.lr, dense=spec.dense, data=spec.data, n_train=n_train)
    say(f"calibrating: dense steps (batch {dense.batch_size}) on {device.type}")
    dense_s = _timed(model, data, dense, steps=steps, budget_s=budget_s / 4)
    pruned, masks = prune(model, density=min(spec.pruning.densities), method=spec.pruning.method,
                          include_fc=spec.pruning.include_fc, exclude=tuple(spec.pruning.exclude))
    say(f"calibrating: retraining steps at density {min(spec.pruning.densities):g}")
    retrain_s = _timed(pruned, data, retrain_run(retrain=spec.retrain, data=spec.data, n_train=n_train),
                       steps=steps, budget_s=budget_s / 4, masks=masks)
    say("calibrating: LMC points")
    m = spec.metrics
    # An LMC point is a BatchNorm pass and an error pass over its examples: linear in their number,
    # so it is timed on at most LMC_PROBE_EXAMPLES of them and scaled (CIFAR's 50,000 took 77 s a
    # point on the 2-core CPU; the probe takes seconds).
    examples = m.lmc_subset or int(data.x_train.shape[0])
    probe = min(examples, LMC_PROBE_EXAMPLES)
    lmc_s = []
    for _ in range(2):  # the first line warms up
        started = time.perf_counter()
        linear_mode_connectivity(pruned, copy.deepcopy(pruned), (data.x_train, data.y_train), points=2,
                                 subset=probe, batch_size=m.eval_batch_size, bn_batch_size=m.bn_batch_size,
                                 bn_stats=m.bn_stats, stacked=False)
        lmc_s.append((time.perf_counter() - started) / 2 * examples / probe)
    return UnitCosts(dense_s, retrain_s, lmc_s[-1], int(data.x_train.shape[0]), stand_in)


def _timed(model, data: Dataset, run: SGDRun, *, steps: int, budget_s: float, masks=None) -> float:
    # Seconds per step: a warm-up sets the pace, then as many of `steps` as `budget_s` holds.
    pace = _time_steps(model, data, run, steps=WARM_UP_STEPS, masks=masks)
    fit = int(budget_s / pace) if pace > 0 else steps
    return _time_steps(model, data, run, steps=max(MIN_STEPS, min(steps, fit)), masks=masks)


def _time_steps(model, data: Dataset, run: SGDRun, *, steps: int, masks=None) -> float:
    # Seconds per step of `run`'s batch size, SAM and augmentation, at its base learning rate.
    probe = run.replace(schedule=epoch_schedule(run.schedule.lr, epochs=1, steps_per_epoch=steps, milestone_epochs=()),
                        steps=steps, drop_last=False)
    started = time.perf_counter()
    train(copy.deepcopy(model), data, probe, seed=0, masks=masks)
    return (time.perf_counter() - started) / steps


def study_cost(spec: StudyConfig, costs: UnitCosts, *, temperatures: list[float]) -> dict:
    """Return the counts and compute seconds of a study over `temperatures` (each with every dense seed).

    Retraining counts the copies and, with controls.scratch, the from-scratch models of each cell.

    Returns:
        {"trials", "cells", "dense_steps", "retrain_epochs", "retrain_steps", "lmc_points",
         "compute_s" (all trials), "trial_s" (per trial, in launch order)}.
    """
    d, r, m = spec.dense, spec.retrain, spec.metrics
    runs = {t: dense_run(spec.study.knob, t, dense=d, data=spec.data, n_train=costs.n_train) for t in temperatures}
    densities = len(spec.pruning.densities)
    trained = r.copies + (spec.controls.scratch_copies if spec.controls.scratch else 0)  # the control retrains too
    per_cell_steps = r.epochs * math.ceil(costs.n_train / r.batch_size) * trained
    pairs = r.copies * (r.copies - 1) // 2 if m.lmc else 0
    cell_s = per_cell_steps * costs.retrain_step_s + pairs * m.lmc_points * costs.lmc_point_s
    # An epochs study shares one dense run per seed (trainables.run.dense_prefix): the coldest
    # temperature's steps are trained once, the others only wait for their prefix.
    shared = spec.study.knob == "epochs"
    trial_s = []
    for t in temperatures:
        for _ in spec.study.dense_seeds:
            dense = 0 if shared else runs[t].steps
            trial_s.append(dense * costs.dense_step_s + densities * cell_s)
    seeds = len(spec.study.dense_seeds)
    dense_steps = seeds * (max(run.steps for run in runs.values()) if shared else sum(r_.steps for r_ in runs.values()))
    compute = sum(trial_s) + (dense_steps * costs.dense_step_s if shared else 0.0)
    return {"trials": len(trial_s), "cells": len(trial_s) * densities, "dense_steps": dense_steps,
            "retrain_epochs": len(trial_s) * densities * r.epochs * trained,
            "retrain_steps": len(trial_s) * densities * per_cell_steps,
            "lmc_points": len(trial_s) * densities * pairs * m.lmc_points, "compute_s": compute, "trial_s": trial_s}
