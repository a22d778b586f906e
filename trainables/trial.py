"""The Ray Tune function trainable: one dense model at one temperature, every density (DESIGN.md 3.1).

The only module under `trainables/` that imports Ray, and only `tune`. Each finished density is
one `tune.report` row plus a checkpoint holding the dense weights and the densities done, so a
retried or resumed trial continues at the first unfinished density.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from ray import tune

from trainables import beyond
from trainables.controls import scratch_seeds, scratch_start
from trainables.data import load_dataset
from trainables.dense_prefix import dense_at_epoch
from trainables.dimension import reduce_dimension
from trainables.engine import data_steps_per_epoch, epoch_schedule, evaluate, train
from trainables.knobs import resolve_dense_run
from trainables.landscape import measure_copies
from trainables.models import build_model
from trainables.pruning import density_of, prune, pruned_layers
from trainables.retrain import retrain_copies
from trainables.row import CellRow
from trainables.runtime import peak_memory_mb, prepare, resolve_device, seed_everything
from trainables.spec import StudyConfig

STATE_FILE = "trial_state.pt"


class InjectedFault(RuntimeError):
    """Raised by the `faults` switch of a config to test recovery."""


def run_trial(config: dict) -> None:
    """Run one temperature point: dense training, then prune, retrain, measure and report per density.

    Args:
        config: Tune's trial config: {"study_config": StudyConfig as a dict, "temperature": float,
            "dense_seed": int, "code_version": str, "dense_prefix": the folder where the trials of
            an epochs study share their dense runs, or None}.
    """
    spec = StudyConfig.model_validate(config["study_config"])
    temperature, dense_seed = float(config["temperature"]), int(config["dense_seed"])
    state = _load_state(tune.get_checkpoint())
    setup_started = time.perf_counter()
    device = resolve_device(spec.resources.device)
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    data = load_dataset(spec.data.name, spec.data.root, device="cpu", download=spec.data.download,
                        image_size=spec.data.image_size)
    dimension = {}
    if spec.data.intrinsic_dim is not None:
        data, projection = reduce_dimension(data, spec.data.intrinsic_dim)
        dimension = {"intrinsic_dim": projection.rank, "pca_variance_kept": projection.variance_kept}

    def build() -> torch.nn.Module:  # a fresh, untrained model of the study's architecture
        return build_model(spec.model.name, input_shape=data.input_shape, num_classes=data.num_classes,
                           depth=spec.model.depth, width=spec.model.width, kwargs=spec.model.kwargs)

    seed_everything(dense_seed)
    model, data = prepare(build(), data, device)
    seconds_setup = time.perf_counter() - setup_started
    if state is None:
        # Studies launched before the shared dense run have no "dense_prefix" entry.
        state = _train_dense(model, data, spec, temperature=temperature, seed=dense_seed,
                             shared=config.get("dense_prefix"))
    else:
        model.load_state_dict(state["dense_state"])
    r = spec.retrain  # lr rewinding: every copy retrains on the same explicit schedule, from the pruned weights
    schedule = epoch_schedule(r.lr, epochs=r.epochs, milestone_epochs=tuple(r.milestones), gamma=r.gamma,
                              steps_per_epoch=data_steps_per_epoch(data, r.batch_size, False))
    cell = _CellWork(spec, data, build=lambda: prepare(build(), data, device)[0], dense_seed=dense_seed,
                     stacked=_stacked(spec, model),
                     retraining={"schedule": schedule, "epochs": r.epochs, "batch_size": r.batch_size,
                                 "momentum": r.momentum, "weight_decay": r.weight_decay,
                                 "augment": spec.data.augment, "last_epochs": r.last_epochs},
                     robust=_Robustness(spec, data, model) if spec.metrics.beyond_accuracy and
                     not state["dense_diverged"] else None)
    for density in [d for d in spec.pruning.densities if d not in state["finished"]]:
        started = time.perf_counter()
        row = CellRow(spec.study.knob, temperature, dense_seed, density, math.nan, state["dense_test_acc"],
                      r.epochs, r.copies, str(config["code_version"])).with_values(dimension)
        row = cell.run(row, model, diverged=state["dense_diverged"])
        first = not state["finished"]  # the trial's one-off costs go on its first row
        row = row.with_values({"seconds_dense": state["seconds_dense"] if first else 0.0,
                               "seconds_dense_wait": state["seconds_dense_wait"] if first else 0.0,
                               "dense_epochs_trained": state["dense_epochs_trained"] if first else 0.0,
                               "seconds_setup": seconds_setup if first else 0.0,
                               "seconds": time.perf_counter() - started, **peak_memory_mb(device)})
        state["finished"].append(density)
        _report(row, state, model)
        _inject_faults(spec, done=len(state["finished"]), resumed=state["resumed"])


@dataclass
class _CellWork:
    # One cell in the order of the method (DESIGN.md 2.2-2.4): prune the dense model, retrain the
    # copies, measure them; then, when switched on, the measurements beyond test accuracy and the
    # from-scratch control.
    spec: StudyConfig
    data: object
    build: Callable[[], torch.nn.Module]  # a fresh model of the study's architecture on the device
    dense_seed: int
    stacked: bool
    retraining: dict
    robust: "_Robustness | None"

    def run(self, row: CellRow, model: torch.nn.Module, *, diverged: bool) -> CellRow:
        spec, data, started = self.spec, self.data, time.perf_counter()
        exclude = tuple(spec.pruning.exclude)
        pruned, masks = prune(model, density=row.density, method=spec.pruning.method, seed=spec.pruning.seed,
                              include_fc=spec.pruning.include_fc, exclude=exclude)
        row = row.with_values({"density_actual": density_of(masks), "seconds_prune": time.perf_counter() - started,
                               "pruned_layers": pruned_layers(model, include_fc=spec.pruning.include_fc,
                                                              exclude=exclude), "data_stats": _stats_text(data)})
        if spec.metrics.beyond_accuracy:  # the same keys on every row, NaN until measured
            row = row.with_values(dict.fromkeys(beyond.robust_keys(spec.metrics.noise_levels,
                                                                   image=data.x_test.dim() == 4), math.nan))
        if diverged:
            return row
        seeds = [1000 * self.dense_seed + k + 1 for k in range(spec.retrain.copies)]
        copies = retrain_copies(pruned, masks, data, seeds=seeds, stacked=self.stacked, **self.retraining)
        row = row.with_values(_measure(copies, data, spec, stacked=self.stacked))
        if self.robust is not None:
            row = row.with_values(self.robust.measure([c.model for c in copies]))
        if spec.controls.scratch:
            row = row.with_values(self.scratch(masks, test_acc=row.test_acc))
        return row

    def scratch(self, masks, *, test_acc: float) -> dict:
        # The from-scratch control (trainables.controls): the cell's mask on fresh initialisations,
        # trained with the retraining budget, one copy after another.
        started = time.perf_counter()
        seeds = scratch_seeds(self.dense_seed, self.spec.controls.scratch_copies)
        accs = []
        for seed in seeds:
            start = scratch_start(self.build, masks, seed=seed)
            accs.append(retrain_copies(start, masks, self.data, seeds=[seed], stacked=False,
                                       **self.retraining)[0].test_acc)
        mean = statistics.fmean(accs)
        return {"scratch_test_acc": mean, "scratch_test_acc_std": statistics.pstdev(accs),
                "inherit_gain": test_acc - mean, "scratch_seeds": " ".join(str(s) for s in seeds),
                "seconds_scratch": time.perf_counter() - started}


class _Robustness:
    # Beyond test accuracy (trainables.beyond): the perturbed test sets and the dense model's
    # predictions and accuracies, computed once per trial; then each cell's copies against them.
    def __init__(self, spec: StudyConfig, data, dense: torch.nn.Module):
        started = time.perf_counter()
        self.batch_size = spec.metrics.eval_batch_size
        self.y = data.y_test
        self.x = data.x_test
        self.sets = beyond.perturbed_test_sets(data.x_train, data.x_test, spec.metrics.noise_levels)
        self.dense_predictions = beyond.predictions(dense, data.x_test, batch_size=self.batch_size)
        self.dense = {f"dense_test_acc_{k}": v for k, v in
                      beyond.perturbed_accuracies(dense, self.sets, self.y, batch_size=self.batch_size).items()}
        self.seconds_dense = time.perf_counter() - started

    def measure(self, copies: list[torch.nn.Module]) -> dict:
        started = time.perf_counter()
        agreements = [beyond.agreement(beyond.predictions(m, self.x, batch_size=self.batch_size),
                                       self.dense_predictions) for m in copies]
        per_copy = [beyond.perturbed_accuracies(m, self.sets, self.y, batch_size=self.batch_size) for m in copies]
        values = {f"test_acc_{name}": statistics.fmean(c[name] for c in per_copy) for name in self.sets}
        # The dense model's share is counted once, on the trial's first cell.
        seconds = time.perf_counter() - started + self.seconds_dense
        self.seconds_dense = 0.0
        return {**values, **self.dense, "agreement_dense": statistics.fmean(agreements),
                "agreement_dense_std": statistics.pstdev(agreements), "seconds_beyond": seconds}


def _stats_text(data) -> str:
    # How the user's own files were standardised, kept with the results: new inputs need the same.
    if data.stats is None:
        return ""
    mean, std = data.stats
    return f"mean {' '.join(f'{v:.6g}' for v in mean)}; std {' '.join(f'{v:.6g}' for v in std)}"


def _train_dense(model: torch.nn.Module, data, spec: StudyConfig, *, temperature: float, seed: int,
                 shared: str | None) -> dict:
    # DESIGN.md 2.1: the knob's value becomes explicit settings, then one training run, or for
    # the epochs knob the prefix of the run this dense seed shares with the other trials.
    started = time.perf_counter()
    d = spec.dense
    run = resolve_dense_run(spec.study.knob, temperature, n_train=data.x_train.shape[0], epochs=d.epochs,
                            milestones=d.milestones, lr=d.lr, gamma=d.gamma, batch_size=d.batch_size,
                            sam_rho=d.sam_rho, iterations=d.iterations, milestone_fractions=d.milestone_fractions)
    settings = {"schedule": run.schedule, "batch_size": run.batch_size, "seed": seed, "momentum": d.momentum,
                "weight_decay": d.weight_decay, "sam_rho": run.sam_rho, "drop_last": run.drop_last,
                "augment": spec.data.augment}
    if spec.study.knob != "epochs" or shared is None:
        result = train(model, data, steps=run.steps, **settings)
        diverged = result.diverged
        share = {"epochs_trained": result.steps / run.schedule.steps_per_epoch, "seconds_waited": 0.0}
    else:
        def advance(snapshot, stop, heartbeat):
            if snapshot is not None:
                model.load_state_dict(snapshot["model"])
                if snapshot["diverged"]:
                    return dict(snapshot)
            result = train(model, data, steps=stop * run.schedule.steps_per_epoch, on_epoch=lambda *_: heartbeat(),
                           start_epoch=0 if snapshot is None else snapshot["epoch"],
                           optimizer_state=None if snapshot is None else snapshot["optimizer"], **settings)
            return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer": result.optimizer_state, "diverged": result.diverged}

        snapshot, share = dense_at_epoch(Path(shared) / f"seed{seed}", int(temperature), advance=advance,
                                         stops=[int(t) for t in spec.study.temperatures])
        model.load_state_dict(snapshot["model"])
        diverged = snapshot["diverged"]
    accuracy = math.nan if diverged else evaluate(model, data.x_test, data.y_test).accuracy
    return {"finished": [], "resumed": False, "dense_diverged": diverged, "dense_test_acc": accuracy,
            "seconds_dense": time.perf_counter() - started - share["seconds_waited"],
            "seconds_dense_wait": share["seconds_waited"], "dense_epochs_trained": share["epochs_trained"]}


def _stacked(spec: StudyConfig, model: torch.nn.Module) -> bool:
    # resources.stacked "auto": stacked copies where they pay, on CUDA (benchmarks/copies.py).
    if spec.resources.stacked == "auto":
        return next(model.parameters()).device.type == "cuda"
    return spec.resources.stacked


def _inject_faults(spec: StudyConfig, *, done: int, resumed: bool) -> None:
    if resumed:
        return
    if spec.faults.crash_after_densities == done:
        raise InjectedFault(f"faults.crash_after_densities: crashing after {done} densities")
    if spec.faults.kill_after_densities == done:
        os.kill(os.getpid(), signal.SIGKILL)


def _measure(copies: list, data, spec: StudyConfig, *, stacked: bool) -> dict:
    # Test accuracy per copy and over copies, then the landscape metrics between copies. A copy
    # that diverged leaves test_acc NaN, which makes the row "diverged".
    accs = [c.test_acc for c in copies]
    values = {f"test_acc_copy{k}": a for k, a in enumerate(accs)}
    values["seconds_retrain"] = sum(c.train.seconds for c in copies)
    if any(c.train.diverged for c in copies):
        return values
    values["test_acc"] = statistics.fmean(accs)
    values["test_acc_std"] = statistics.pstdev(accs)
    m = spec.metrics
    values.update(measure_copies([c.model for c in copies], (data.x_train, data.y_train), lmc=m.lmc,
                                 lmc_points=m.lmc_points, lmc_subset=m.lmc_subset, cka=m.cka,
                                 cka_examples=m.cka_examples, batch_size=m.eval_batch_size,
                                 bn_batch_size=m.bn_batch_size, bn_stats=m.bn_stats,
                                 stacked=stacked))
    return values


def _report(row: CellRow, state: dict, model: torch.nn.Module) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        saved = {k: v for k, v in state.items() if k not in ("dense_state", "resumed")}
        saved["dense_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(saved, Path(tmp) / STATE_FILE)
        tune.report(row.to_report(), checkpoint=tune.Checkpoint.from_directory(tmp))


def _load_state(checkpoint) -> dict | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    state["resumed"] = True
    return state
