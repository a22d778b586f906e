"""The Ray Tune function trainable: one dense model at one temperature, every density (DESIGN.md 3.1).

The only module under `trainables/` that imports Ray, and only `tune`. `run_trial` reads as the
method: resume state -> load data -> build the model -> train dense -> per remaining density:
prune, retrain, measure (`trainables.cell.work.CellWork`) -> `tune.report` with a checkpoint
holding the dense weights and the densities done (`trainables.cell.state.TrialState`), so a
retried or resumed trial continues at the first unfinished density.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from ray import tune

from contract.config import StudyConfig
from contract.folders import study_of_experiment
from contract.row import CellRow, grid_keys
from contract.saved import read_config_snapshot
from contract.store import is_uri
from contract.trial import TrialInput
from trainables.cell.dense import train_dense
from trainables.cell.runs import dense_run, retrain_run
from trainables.cell.state import TrialState, TrialStateDamaged, TrialStateError
from trainables.cell.work import CellWork, Robustness
from trainables.data.catalog import load_dataset
from trainables.data.dataset import Dataset
from trainables.data.dimension import reduce_dimension
from trainables.data.split import hold_out_validation, restandardise, take_subset
from trainables.models.catalog import build_model
from trainables.run.memory import exceed_memory_limit, is_out_of_memory, out_of_memory
from trainables.run.stacked import use_stacked
from trainables.run.watchdog import Watchdog, beat, note_fault
from trainables.run.runtime import (peak_memory_mb, prepare, reset_peak_memory, resolve_device, seed_everything,
                                    use_deterministic)


class InjectedFault(RuntimeError):
    """Raised by the `faults` switch of a config to test recovery."""


def run_trial(config: dict) -> None:
    """Run one temperature point: dense training, then prune, retrain, measure and report per density.

    Args:
        config: Tune's trial config, the keys of `contract.trial.TrialInput` (the study's config
            as a dict, temperature, dense_seed, code_version, dense_prefix, and for a repair the
            densities it owes).
    """
    given, folder = _in_place(TrialInput.model_validate(config))
    with Watchdog(given.study_config.resources.trial_timeout_s, lambda message: note_fault(folder, "hang", message)):
        device = resolve_device(given.study_config.resources.device, gpus=given.study_config.resources.gpu)
        try:
            _run(given, device)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            failure = out_of_memory(err, device)
            note_fault(folder, "memory", str(failure))
            raise failure from err


def _run(given: TrialInput, device: torch.device) -> None:
    # The method, in its order (the module's docstring).
    spec, temperature, dense_seed = given.study_config, given.temperature, given.dense_seed
    state = _load_state(tune.get_checkpoint())
    setup_started = time.perf_counter()
    use_deterministic(spec.resources.deterministic and device.type == "cuda")
    reset_peak_memory(device)
    torch.set_num_threads(max(1, int(spec.resources.cpu)))
    data, recorded = _load_data(spec)

    def build() -> torch.nn.Module:  # a fresh, untrained model of the study's architecture
        return build_model(spec.model.name, input_shape=data.input_shape, num_classes=data.num_classes,
                           depth=spec.model.depth, width=spec.model.width, kwargs=spec.model.kwargs)

    seed_everything(dense_seed)
    model, data = prepare(build(), data, device)
    seconds_setup = time.perf_counter() - setup_started
    n_train = data.x_train.shape[0]
    if state is None:
        state = cached_dense(given.dense_cache, temperature, dense_seed)
    if state is None:
        shared = given.dense_prefix if spec.study.knob == "epochs" else None
        state = train_dense(model, data, dense_run(spec.study.knob, temperature, dense=spec.dense, data=spec.data,
                                                   n_train=n_train, precision=spec.resources.precision),
                            seed=dense_seed, shared=shared, stops=[int(t) for t in spec.study.temperatures])
        cache_dense(given.dense_cache, temperature, dense_seed, state)
    else:
        model.load_state_dict(state.dense_state)
    retraining = retrain_run(retrain=spec.retrain, data=spec.data, n_train=n_train, precision=spec.resources.precision)
    cell = CellWork(spec, data, build=lambda: prepare(build(), data, device)[0], dense_seed=dense_seed,
                    stacked=use_stacked(spec.resources.stacked, device), retraining=retraining,
                    robust=Robustness(data, model, noise_levels=spec.metrics.noise_levels,
                                      batch_size=spec.metrics.eval_batch_size)
                    if spec.metrics.beyond_accuracy and not state.dense_diverged else None)
    _inject_faults(spec, done=len(state.finished), resumed=state.resumed)
    for density in [d for d in given.densities or spec.pruning.densities if d not in state.finished]:
        started = time.perf_counter()
        row = CellRow(spec.study.knob, temperature, dense_seed, density, math.nan, state.dense_test_acc,
                      spec.retrain.epochs, spec.retrain.copies, given.code_version).with_values(
                          {**recorded, "dense_val_acc": state.dense_val_acc, "model_width": spec.model.width,
                           "proxy": spec.proxy.describe()})
        row = cell.run(row, model, diverged=state.dense_diverged)
        row = row.with_values({**_one_off_costs(state, seconds_setup), "seconds": time.perf_counter() - started,
                               **peak_memory_mb(device), "device": str(device)})
        state.finished.append(density)
        state.grid.update(grid_keys(row))
        _report(row, state)
        beat()  # a report waits for the driver to take it: that wait is not the trial's
        _inject_faults(spec, done=len(state.finished), resumed=state.resumed)


def _cache_folder(cache: str, temperature: float, dense_seed: int) -> Path:
    return Path(cache) / f"{temperature:g}_seed{dense_seed}"


def cached_dense(cache: str | None, temperature: float, dense_seed: int) -> TrialState | None:
    """Return the dense model another stage of the study left in `cache` for this point, or None.

    It comes without that stage's progress (no density finished here yet) and costs this trial
    no dense training (its seconds and epochs are 0: the stage that trained it reported them).
    """
    folder = None if cache is None else _cache_folder(cache, temperature, dense_seed)
    if folder is None or not folder.is_dir():
        return None
    try:
        state = TrialState.load(folder)
    except TrialStateError:  # a damaged cache entry: train the dense model again
        return None
    return TrialState(state.dense_state, state.dense_diverged, state.dense_test_acc, 0.0, 0.0, 0.0,
                      dense_val_acc=state.dense_val_acc)


def cache_dense(cache: str | None, temperature: float, dense_seed: int, state: TrialState) -> None:
    """Leave the dense model of `state` in `cache` for the study's other stage (written aside, then renamed).

    An entry already there is kept (another trial's: the same model), unless it cannot be read:
    then this one replaces it, so that a damaged entry costs one retraining, not one per stage.
    """
    if cache is None:
        return
    folder = _cache_folder(cache, temperature, dense_seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staged-"))
    TrialState(state.dense_state, state.dense_diverged, state.dense_test_acc, state.seconds_dense,
               state.seconds_dense_wait, state.dense_epochs_trained, dense_val_acc=state.dense_val_acc).save(staged)
    if folder.is_dir() and cached_dense(cache, temperature, dense_seed) is None:  # damaged: set it aside
        with contextlib.suppress(OSError):  # another trial may be replacing it too
            folder.rename(staged.with_name(staged.name.replace(".staged-", ".damaged-")))
    try:
        staged.rename(folder)  # atomic; a folder already there (another trial's, the same model) is kept
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)
    for damaged in folder.parent.glob(".damaged-*"):
        shutil.rmtree(damaged, ignore_errors=True)


def _load_data(spec: StudyConfig) -> tuple[Dataset, dict]:
    # The dataset, cut to data.train_subset, its validation split held out before anything is
    # fitted on the training split, then projected when data.intrinsic_dim asks; with what every
    # row records of it.
    d = spec.data
    data = load_dataset(d.name, d.root, device="cpu", download=d.download, image_size=d.image_size)
    recorded = {}
    if d.train_subset is not None:
        data = take_subset(data, d.train_subset, seed=d.train_subset_seed)
        recorded = {"train_subset": d.train_subset, "train_subset_seed": d.train_subset_seed}
    if d.validation:
        data = hold_out_validation(data, d.validation, seed=d.validation_seed)
        recorded |= {"n_val": len(data.y_val), "validation_seed": d.validation_seed}
    if d.validation or d.train_subset is not None:
        data = restandardise(data)  # the user's own files: statistics of the examples trained on only
    recorded["n_train"] = len(data.y_train)
    if d.intrinsic_dim is not None:
        data, projection = reduce_dimension(data, d.intrinsic_dim)
        recorded |= {"intrinsic_dim": projection.rank, "pca_variance_kept": projection.variance_kept}
    return data, recorded


def _one_off_costs(state: TrialState, seconds_setup: float) -> dict:
    # The trial's one-off costs go on its first row, zeros on the others.
    first = not state.finished
    return {"seconds_dense": state.seconds_dense if first else 0.0,
            "seconds_dense_wait": state.seconds_dense_wait if first else 0.0,
            "dense_epochs_trained": state.dense_epochs_trained if first else 0.0,
            "seconds_setup": seconds_setup if first else 0.0}


def _inject_faults(spec: StudyConfig, *, done: int, resumed: bool) -> None:
    # Called before the first density and after each: `done` densities are finished.
    faults = spec.faults
    if faults.out_of_memory_after_densities is not None and done >= faults.out_of_memory_after_densities:
        exceed_memory_limit(headroom_mb=256, demand_mb=1024)  # every attempt: the limit is the machine's
    if resumed or done == 0:
        return
    if faults.crash_after_densities == done:
        raise InjectedFault(f"faults.crash_after_densities: crashing after {done} densities")
    if faults.kill_after_densities == done:
        os.kill(os.getpid(), signal.SIGKILL)
    if faults.hang_after_densities == done:  # every model's next forward blocks, as a dead loader's batch would
        torch.nn.modules.module.register_module_forward_pre_hook(lambda *_: threading.Event().wait())


def _in_place(given: TrialInput) -> tuple[TrialInput, Path | None]:
    # The trial's own folder in the study's storage, and its input for where the study lives now:
    # Tune keeps a trial's config as first launched, and a study moved or copied to another root
    # resumes there (`TrialInput.moved_to`). Object storage and a trial run outside Tune: as given.
    try:
        # The storage context (a DeveloperAPI that ray.tune's own context reads; ray.train.get_context
        # refuses inside Tune in 2.60): where Tune persists this trial.
        from ray.train._internal import session

        trial = Path(session.get_storage().trial_fs_path)
    except Exception:  # noqa: BLE001 (outside a Tune session, or storage the trial cannot see)
        return given, None
    if is_uri(given.study_config.study.storage) or not trial.parent.is_dir():
        return given, None
    study = study_of_experiment(trial.parent)
    saved = read_config_snapshot(study) or {}
    given = given.moved_to(str(study.parent), saved.get("data", {}).get("root"))
    timeout = saved.get("resources", {}).get("trial_timeout_s", given.study_config.resources.trial_timeout_s)
    if timeout != given.study_config.resources.trial_timeout_s:  # resumed with another patience
        given = given.with_trial_timeout(timeout)
    return given, trial


def _report(row: CellRow, state: TrialState) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state.save(tmp)
        tune.report({**row.to_report(), **state.grid}, checkpoint=tune.Checkpoint.from_directory(tmp))


def _load_state(checkpoint) -> TrialState | None:
    # A damaged checkpoint (bytes overwritten or cut short) is not a reason to fail every retry:
    # the trial starts again from its dense training, and the densities it reports again replace
    # their earlier rows (the last report of a density wins, `contract.cells`).
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        try:
            return TrialState.load(folder)
        except TrialStateDamaged as err:
            print(f"{err}; starting this trial again from its dense training", file=sys.stderr)
            return None
