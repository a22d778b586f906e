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
from pathlib import Path

import torch
from ray import tune

from trainables.data import load_dataset
from trainables.engine import (data_steps_per_epoch, epoch_schedule, evaluate, peak_memory_mb, prepare,
                               resolve_device, retrain_copies, seed_everything, train_dense)
from trainables.landscape import measure_copies
from trainables.models import build_model
from trainables.pruning import density_of, prune
from trainables.spec import StudyConfig

STATE_FILE = "trial_state.pt"


class InjectedFault(RuntimeError):
    """Raised by the `faults` switch of a config to test recovery."""


def run_trial(config: dict) -> None:
    """Run one temperature point: dense training, then prune, retrain, measure and report per density.

    Args:
        config: Tune's trial config: {"study_config": StudyConfig as a dict, "temperature": float,
            "dense_seed": int, "code_version": str}.
    """
    spec = StudyConfig.model_validate(config["study_config"])
    temperature, dense_seed = float(config["temperature"]), int(config["dense_seed"])
    state = _load_state(tune.get_checkpoint())
    setup_started = time.perf_counter()
    device = resolve_device(spec.resources.device)
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    data = load_dataset(spec.data.name, spec.data.root, device="cpu", download=spec.data.download)
    seed_everything(dense_seed)
    model = build_model(spec.model.name, input_shape=data.input_shape, num_classes=data.num_classes,
                        depth=spec.model.depth, width=spec.model.width)
    model, data = prepare(model, data, device)
    seconds_setup = time.perf_counter() - setup_started
    if state is None:
        started = time.perf_counter()
        dense = train_dense(model, data, knob=spec.study.knob, temperature=temperature, seed=dense_seed,
                            augment=spec.data.augment, **spec.dense.model_dump())
        state = {"finished": [], "resumed": False, "dense_diverged": dense.diverged,
                 "seconds_dense": time.perf_counter() - started,
                 "dense_test_acc": math.nan if dense.diverged else evaluate(model, data.x_test, data.y_test).accuracy}
    else:
        model.load_state_dict(state["dense_state"])
    r = spec.retrain
    schedule = epoch_schedule(r.lr, epochs=r.epochs, steps_per_epoch=data_steps_per_epoch(data, r.batch_size, False),
                              milestone_epochs=tuple(r.milestones), gamma=r.gamma)
    seeds = [1000 * dense_seed + k + 1 for k in range(r.copies)]
    for density in [d for d in spec.pruning.densities if d not in state["finished"]]:
        started = time.perf_counter()
        row = {"knob": spec.study.knob, "temperature": temperature, "dense_seed": dense_seed, "density": density,
               "dense_test_acc": state["dense_test_acc"], "retrain_epochs": r.epochs, "n_copies": r.copies,
               "code_version": str(config["code_version"])}
        pruned, masks = prune(model, density=density, method=spec.pruning.method, seed=spec.pruning.seed,
                              include_fc=spec.pruning.include_fc)
        row["density_actual"] = density_of(masks)
        row["seconds_prune"] = time.perf_counter() - started
        if not state["dense_diverged"]:
            copies = retrain_copies(pruned, masks, data, seeds=seeds, schedule=schedule, batch_size=r.batch_size,
                                    momentum=r.momentum, weight_decay=r.weight_decay, augment=spec.data.augment,
                                    last_epochs=r.last_epochs)
            row.update(_cell_metrics(copies, data, spec))
        row.update(_status_and_blanks(row, r.copies))
        first = not state["finished"]  # the trial's one-off costs go on its first row
        row["seconds_dense"] = state["seconds_dense"] if first else 0.0
        row["seconds_setup"], seconds_setup = seconds_setup, 0.0
        row["seconds"] = time.perf_counter() - started
        row.update(peak_memory_mb(device))
        state["finished"].append(density)
        _report(row, state, model)
        _inject_faults(spec, done=len(state["finished"]), resumed=state["resumed"])


def _inject_faults(spec: StudyConfig, *, done: int, resumed: bool) -> None:
    if resumed:
        return
    if spec.faults.crash_after_densities == done:
        raise InjectedFault(f"faults.crash_after_densities: crashing after {done} densities")
    if spec.faults.kill_after_densities == done:
        os.kill(os.getpid(), signal.SIGKILL)


def _cell_metrics(copies: list, data, spec: StudyConfig) -> dict:
    # Test accuracy per copy and over copies, then the landscape metrics between copies.
    accs = [c.test_acc for c in copies]
    row = {f"test_acc_copy{k}": a for k, a in enumerate(accs)}
    row["seconds_retrain"] = sum(c.train.seconds for c in copies)
    if any(c.train.diverged for c in copies):
        return row
    row["test_acc"] = statistics.fmean(accs)
    row["test_acc_std"] = statistics.pstdev(accs)
    m = spec.metrics
    row.update(measure_copies([c.model for c in copies], (data.x_train, data.y_train), lmc=m.lmc,
                              lmc_points=m.lmc_points, lmc_subset=m.lmc_subset, cka=m.cka,
                              cka_examples=m.cka_examples, batch_size=m.eval_batch_size))
    return row


def _status_and_blanks(row: dict, copies: int) -> dict:
    # Every row has the same keys: a diverged cell carries NaN metrics rather than missing ones.
    keys = ["test_acc", "test_acc_std", "train_err", "lmc", "lmc_std", "cka", "cka_std", "seconds_retrain",
            "seconds_lmc", "seconds_lmc_bn", "seconds_cka"] + [f"test_acc_copy{k}" for k in range(copies)]
    keys += [f"{m}_pair{i}_{j}" for m in ("lmc", "cka") for i in range(copies) for j in range(i + 1, copies)]
    blanks = {k: math.nan for k in keys if k not in row}
    diverged = "test_acc" not in row or not math.isfinite(row["test_acc"])
    return {**blanks, "status": "diverged" if diverged else "ok"}


def _report(row: dict, state: dict, model: torch.nn.Module) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        saved = {k: v for k, v in state.items() if k not in ("dense_state", "resumed")}
        saved["dense_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(saved, Path(tmp) / STATE_FILE)
        tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))


def _load_state(checkpoint) -> dict | None:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    state["resumed"] = True
    return state
