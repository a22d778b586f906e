"""One cell in the order of the method (DESIGN.md 2.2-2.4): prune the dense model, retrain the copies, measure.

Then, when switched on, the measurements beyond test accuracy (`trainables.method.beyond`) and
the from-scratch control (`trainables.method.controls`). The trial builds one `CellWork` and runs
it per density; each run returns the cell's `CellRow`.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from contract.config import StudyConfig
from contract.row import CellRow
from trainables.data.dataset import Dataset
from trainables.method import beyond
from trainables.method.controls import scratch_seeds, scratch_start
from trainables.method.landscape import measure_copies
from trainables.method.pruning import density_of, prunable_weights, prune, pruned_layers
from trainables.method.spectra import METRICS as SPECTRAL_METRICS
from trainables.method.spectra import layer_means, model_spectra
from trainables.method.retrain import RetrainedCopy, retrain_copies
from trainables.run.settings import SGDRun


@dataclass
class CellWork:
    """What every cell of a trial shares: the config, the data, the retraining run and the dense model's references.

    Attributes:
        spec: the study's config.
        data: device-resident dataset.
        build: returns a fresh, untrained model of the study's architecture on the device.
        dense_seed: the trial's dense seed (copy seeds are 1000 x dense_seed + k + 1).
        stacked: retrain and evaluate the copies as one stacked model.
        retraining: the retraining run of every copy (`trainables.cell.runs.retrain_run`).
        robust: the perturbed test sets and the dense model's answers on them, or None when off.
    """

    spec: StudyConfig
    data: Dataset
    build: Callable[[], torch.nn.Module]
    dense_seed: int
    stacked: bool
    retraining: SGDRun
    robust: "Robustness | None"
    _dense_spectra: dict | None = None  # the dense model's, computed at the first cell

    def run(self, row: CellRow, model: torch.nn.Module, *, diverged: bool) -> CellRow:
        """Return `row` (the cell's identity) filled with the cell's results; a diverged dense model fills nothing."""
        spec, data, started = self.spec, self.data, time.perf_counter()
        exclude = tuple(spec.pruning.exclude)
        pruned, masks = prune(model, density=row.density, method=spec.pruning.method, seed=spec.pruning.seed,
                              include_fc=spec.pruning.include_fc, exclude=exclude, alpha_eps=spec.pruning.alpha_eps)
        row = row.with_values({"density_actual": density_of(masks), "seconds_prune": time.perf_counter() - started,
                               "pruned_layers": pruned_layers(model, include_fc=spec.pruning.include_fc,
                                                              exclude=exclude), "data_stats": stats_text(data)})
        if spec.metrics.beyond_accuracy:  # the same keys on every row, NaN until measured
            row = row.with_values(dict.fromkeys(beyond.robust_keys(spec.metrics.noise_levels,
                                                                   image=data.x_test.dim() == 4), math.nan))
        if diverged:
            return row
        if spec.metrics.spectra:
            row = row.with_values(self.spectra(model, pruned))
        seeds = [1000 * self.dense_seed + k + 1 for k in range(spec.retrain.copies)]
        copies = retrain_copies(pruned, masks, data, run=self.retraining, seeds=seeds,
                                last_epochs=spec.retrain.last_epochs, stacked=self.stacked)
        row = row.with_values(self.measure(copies))
        if self.robust is not None:
            row = row.with_values(self.robust.measure([c.model for c in copies]))
        if spec.controls.scratch:
            row = row.with_values(self.scratch(masks, test_acc=row.test_acc))
        return row

    def spectra(self, dense: torch.nn.Module, pruned: torch.nn.Module) -> dict:
        """Return the dense and the pruned model's spectral metrics (layer means and per layer) and their seconds.

        The dense model's are computed once, at the trial's first cell, and charged to it.
        """
        started = time.perf_counter()
        p = self.spec.pruning
        layers = lambda m: prunable_weights(m, include_fc=p.include_fc, exclude=tuple(p.exclude))  # noqa: E731
        first = self._dense_spectra is None
        if first:
            self._dense_spectra = model_spectra(layers(dense))
        pruned_spectra = model_spectra(layers(pruned), pruned=True)
        values = {f"dense_{k}": v for k, v in layer_means(self._dense_spectra).items()}
        values |= {f"pruned_{k}": v for k, v in layer_means(pruned_spectra).items()}
        keep = lambda spectra: {name: {k: s[k] for k in SPECTRAL_METRICS} for name, s in spectra.items()}  # noqa: E731
        values["spectra_layers"] = json.dumps({"dense": keep(self._dense_spectra), "pruned": keep(pruned_spectra)})
        values["seconds_spectra"] = time.perf_counter() - started
        return values

    def measure(self, copies: list[RetrainedCopy]) -> dict:
        """Return test accuracy per copy and over copies, then the landscape metrics between copies.

        A copy that diverged leaves test_acc NaN, which makes the row "diverged".
        """
        accs = [c.test_acc for c in copies]
        values = {f"test_acc_copy{k}": a for k, a in enumerate(accs)}
        values["seconds_retrain"] = sum(c.train.seconds for c in copies)
        if any(c.train.diverged for c in copies):
            return values
        values["test_acc"] = statistics.fmean(accs)
        values["test_acc_std"] = statistics.pstdev(accs)
        if self.data.has_validation:
            vals = [c.val_acc for c in copies]
            values["val_acc"], values["val_acc_std"] = statistics.fmean(vals), statistics.pstdev(vals)
        m = self.spec.metrics
        values.update(measure_copies([c.model for c in copies], (self.data.x_train, self.data.y_train), lmc=m.lmc,
                                     lmc_points=m.lmc_points, lmc_subset=m.lmc_subset, cka=m.cka,
                                     cka_examples=m.cka_examples, batch_size=m.eval_batch_size,
                                     bn_batch_size=m.bn_batch_size, bn_stats=m.bn_stats, stacked=self.stacked))
        return values

    def scratch(self, masks, *, test_acc: float) -> dict:
        """Return the from-scratch control's values: the cell's mask on fresh initialisations, the retraining budget."""
        started = time.perf_counter()
        seeds = scratch_seeds(self.dense_seed, self.spec.controls.scratch_copies)
        accs = []
        for seed in seeds:
            start = scratch_start(self.build, masks, seed=seed)
            accs.append(retrain_copies(start, masks, self.data, run=self.retraining, seeds=[seed],
                                       last_epochs=self.spec.retrain.last_epochs, stacked=False)[0].test_acc)
        mean = statistics.fmean(accs)
        return {"scratch_test_acc": mean, "scratch_test_acc_std": statistics.pstdev(accs),
                "inherit_gain": test_acc - mean, "scratch_seeds": " ".join(str(s) for s in seeds),
                "seconds_scratch": time.perf_counter() - started}


class Robustness:
    """Beyond test accuracy: the perturbed test sets and the dense model's answers on them, once per trial."""

    def __init__(self, data: Dataset, dense: torch.nn.Module, *, noise_levels: list[float], batch_size: int):
        started = time.perf_counter()
        self.batch_size = batch_size
        self.y = data.y_test
        self.x = data.x_test
        self.sets = beyond.perturbed_test_sets(data.x_train, data.x_test, noise_levels)
        self.dense_predictions = beyond.predictions(dense, data.x_test, batch_size=self.batch_size)
        self.dense = {f"dense_test_acc_{k}": v for k, v in
                      beyond.perturbed_accuracies(dense, self.sets, self.y, batch_size=self.batch_size).items()}
        self.seconds_dense = time.perf_counter() - started

    def measure(self, copies: list[torch.nn.Module]) -> dict:
        """Return the copies' agreement with the dense model and accuracies on the perturbed sets, and the seconds."""
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


def stats_text(data: Dataset) -> str:
    """Return how the user's own files were standardised, "mean a b c; std d e f" ("" for built-in data).

    Kept with the results: new inputs need the same standardisation.
    """
    if data.stats is None:
        return ""
    mean, std = data.stats
    return f"mean {' '.join(f'{v:.6g}' for v in mean)}; std {' '.join(f'{v:.6g}' for v in std)}"
