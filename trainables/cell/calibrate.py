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
import dataclasses
import math
import multiprocessing
import statistics
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
from trainables.run.engine import train, train_stacked
from trainables.run.runtime import prepare, resolve_device, synchronize
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun
from trainables.run.stacked import stack_masks, stack_models, unstackable_reason, use_stacked

LMC_PROBE_EXAMPLES = 2048
WARM_UP_STEPS = 5  # the first steps pay for allocation and kernel choice; they set the pace
MIN_STEPS = 5
# (input shape, training examples, test examples, classes, augmentation) of the datasets a
# study may plan before their files are here.
SHAPES = {"cifar10": ((3, 32, 32), 50_000, 10_000, 10, "crop_flip"),
          "cifar100": ((3, 32, 32), 50_000, 10_000, 100, "crop_flip")}


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit of work on one trial's device and threads, as the trial runs it.

    retrain_step_s is per copy-step: with stacked copies, one stacked step divided by the copies.
    stand_in names the dataset that random inputs of its shape stood in for ("" when the real
    data was timed); device is the device type that was timed ("cpu" or "cuda"); stacked whether
    copies and LMC points were timed stacked; packed how many trials shared the card while the
    retraining step was timed (1: alone), and slowdown what that sharing cost each of them
    (every unit includes it).
    """

    dense_step_s: float
    retrain_step_s: float
    lmc_point_s: float
    n_train: int
    stand_in: str = ""
    device: str = "cpu"
    stacked: bool = False
    packed: int = 1
    slowdown: float = 1.0


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
    """Return the seconds of one dense step, one retraining copy-step and one LMC point for `spec`.

    Times what a trial runs: on the device the trial would get (`resolve_device` with
    resources.gpu), the copies and LMC points stacked where the trial stacks them, and on CUDA
    with a fractional resources.gpu, the retraining step again in 1/gpu processes at once, as
    packed trials share the card. Each run is warmed up with WARM_UP_STEPS steps, then timed over
    `steps` steps, or fewer (at least MIN_STEPS) where a quarter of `budget_s` would not hold them
    at the warm-up's pace. `say` hears one line before each stage. Runs with the trial's thread
    count (resources.cpu) and restores the caller's afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    try:
        costs = _calibrate(spec, steps=steps, budget_s=budget_s, say=say)
    finally:
        torch.set_num_threads(threads)
    packed = int(1 / spec.resources.gpu) if costs.device == "cuda" and 0 < spec.resources.gpu < 1 else 1
    if packed == 1:
        return costs
    say(f"calibrating: retraining steps in {packed} processes at once (resources.gpu {spec.resources.gpu:g})")
    slowdown = max(1.0, packed_step_s(spec, packed, steps=steps, budget_s=budget_s) / costs.retrain_step_s)
    return dataclasses.replace(costs, dense_step_s=costs.dense_step_s * slowdown,
                               retrain_step_s=costs.retrain_step_s * slowdown,
                               lmc_point_s=costs.lmc_point_s * slowdown, packed=packed, slowdown=slowdown)


def packed_step_s(spec: StudyConfig, processes: int, *, steps: int, budget_s: float) -> float:
    """Return the mean seconds per retraining copy-step of `processes` trials timing it at the same time.

    Each process is a fresh interpreter (as Ray's workers are) with its own CUDA context; they
    start together at a barrier, so their timed steps overlap.
    """
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            times = pool.starmap(_retrain_probe, [(spec.model_dump(), steps, budget_s, barrier)] * processes)
    return statistics.fmean(times)


def _retrain_probe(raw: dict, steps: int, budget_s: float, barrier) -> float:
    # One packed trial's retraining copy-step, timed after all processes have warmed up.
    spec = StudyConfig.model_validate(raw)
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    setup = _setup(spec)
    _time_steps(*setup.retraining(), steps=WARM_UP_STEPS)
    barrier.wait()
    return _timed(*setup.retraining(), steps=steps, budget_s=budget_s / 4)


@dataclass(frozen=True)
class _Setup:
    # What a calibration times on: the trial's device, data, model and runs.
    device: torch.device
    data: Dataset
    model: torch.nn.Module
    stand_in: str
    stacked: bool
    spec: StudyConfig

    def retraining(self) -> tuple:
        # (model, data, run, masks, copies) of one cell's retraining at the lowest density.
        spec = self.spec
        pruned, masks = prune(self.model, density=min(spec.pruning.densities), method=spec.pruning.method,
                              include_fc=spec.pruning.include_fc, exclude=tuple(spec.pruning.exclude))
        run = retrain_run(retrain=spec.retrain, data=spec.data, n_train=int(self.data.x_train.shape[0]),
                          precision=spec.resources.precision)
        copies = spec.retrain.copies if self.stacked else 1
        if copies > 1:
            pruned = stack_models(pruned, [pruned.state_dict()] * copies)
            masks = stack_masks(masks, pruned)
        return pruned, self.data, run, masks, copies


def _setup(spec: StudyConfig) -> _Setup:
    device = resolve_device(spec.resources.device, gpus=spec.resources.gpu)
    data, stand_in = planning_data(spec)
    if spec.data.train_subset is not None and not stand_in:  # trials train on the subset ...
        data = take_subset(data, spec.data.train_subset, seed=spec.data.train_subset_seed)
    if spec.data.validation and not stand_in:  # ... less what the validation split holds out
        data = hold_out_validation(data, spec.data.validation, seed=spec.data.validation_seed)
    model = build_model(spec.model.name, input_shape=data.input_shape, num_classes=data.num_classes,
                        depth=spec.model.depth, width=spec.model.width, kwargs=spec.model.kwargs)
    model, data = prepare(model, data, device)
    stacked = use_stacked(spec.resources.stacked, device) and unstackable_reason(model) is None
    return _Setup(device, data, model, stand_in, stacked, spec)


def _calibrate(spec: StudyConfig, *, steps: int, budget_s: float, say: Callable[[str], None]) -> UnitCosts:
    setup = _setup(spec)
    data, device = setup.data, setup.device
    n_train = int(data.x_train.shape[0])
    # The dense run at its base settings (the knob moves the schedule, not the cost of a step),
    # but a SAM-rho study's at its largest rho: SAM's steps take two passes where rho > 0.
    knob, at = ("sam_rho", max(spec.study.temperatures)) if spec.study.knob == "sam_rho" else ("lr", spec.dense.lr)
    dense = dense_run(knob, at, dense=spec.dense, data=spec.data, n_train=n_train, precision=spec.resources.precision)
    say(f"calibrating: dense steps (batch {dense.batch_size}) on {device.type}")
    dense_s = _timed(setup.model, data, dense, steps=steps, budget_s=budget_s / 4)
    pruned, data, run, masks, copies = setup.retraining()
    say(f"calibrating: retraining steps at density {min(spec.pruning.densities):g}"
        + (f", {copies} copies stacked" if copies > 1 else ""))
    retrain_s = _timed(pruned, data, run, masks, copies, steps=steps, budget_s=budget_s / 4) / copies
    say("calibrating: LMC points")
    m = spec.metrics
    # An LMC point is a BatchNorm pass and an error pass over its examples: linear in their number,
    # so it is timed on at most LMC_PROBE_EXAMPLES of them and scaled (CIFAR's 50,000 took 77 s a
    # point on the 2-core CPU; the probe takes seconds). Stacked, a line's points run at once.
    examples = m.lmc_subset or n_train
    probe = min(examples, LMC_PROBE_EXAMPLES)
    points = m.lmc_points if setup.stacked else 2
    single, _ = prune(setup.model, density=min(spec.pruning.densities), method=spec.pruning.method,
                      include_fc=spec.pruning.include_fc, exclude=tuple(spec.pruning.exclude))
    lmc_s = []
    for _ in range(2):  # the first line warms up
        started = time.perf_counter()
        linear_mode_connectivity(single, copy.deepcopy(single), (data.x_train, data.y_train), points=points,
                                 subset=probe, batch_size=m.eval_batch_size, bn_batch_size=m.bn_batch_size,
                                 bn_stats=m.bn_stats, stacked=setup.stacked)
        synchronize(device)
        lmc_s.append((time.perf_counter() - started) / points * examples / probe)
    return UnitCosts(dense_s, retrain_s, lmc_s[-1], n_train, setup.stand_in, device=device.type,
                     stacked=setup.stacked)


def _timed(model, data: Dataset, run: SGDRun, masks=None, copies: int = 1, *, steps: int, budget_s: float) -> float:
    # Seconds per step: a warm-up sets the pace, then as many of `steps` as `budget_s` holds.
    pace = _time_steps(model, data, run, masks, copies, steps=WARM_UP_STEPS)
    fit = int(budget_s / pace) if pace > 0 else steps
    return _time_steps(model, data, run, masks, copies, steps=max(MIN_STEPS, min(steps, fit)))


def _time_steps(model, data: Dataset, run: SGDRun, masks=None, copies: int = 1, *, steps: int) -> float:
    # Seconds per step of `run`'s batch size, SAM and augmentation, at its base learning rate;
    # `copies` > 1: `model` is that many stacked copies, each with its own batches.
    probe = run.replace(schedule=epoch_schedule(run.schedule.lr, epochs=1, steps_per_epoch=steps, milestone_epochs=()),
                        steps=steps, drop_last=False)
    started = time.perf_counter()
    if copies > 1:
        train_stacked(copy.deepcopy(model), data, probe, seeds=list(range(copies)), masks=masks)
    else:
        train(copy.deepcopy(model), data, probe, seed=0, masks=masks)
    synchronize(data.x_train.device)
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
