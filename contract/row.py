"""The result row: what one finished cell reports to Tune (DESIGN.md 3.1), defined once.

The trial builds a `CellRow` per density and reports `row.to_report()`: plain floats, ints and
strings, always the same keys for a given number of copies. Readers name keys through this
module: the field names of `CellRow`, the per-copy patterns and the perturbed-set pattern.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

NAN = math.nan
# Per-copy and per-pair values are flat keys (Tune flattens nested dicts with "/").
COPY_KEYS = {"test_acc": re.compile(r"^test_acc_copy\d+$"), "lmc": re.compile(r"^lmc_pair\d+_\d+$"),
             "cka": re.compile(r"^cka_pair\d+_\d+$")}
PER_COPY_KEY = re.compile("|".join(p.pattern for p in COPY_KEYS.values()))
# Accuracies on perturbed test sets (metrics.beyond_accuracy), named by the set (trainables.method.beyond):
# group 1 is the set's name, and the same name prefixed "dense_" is the dense model's accuracy on it.
PERTURBED_KEY = re.compile(r"^test_acc_(noise[0-9.e+-]+|contrast|brightness|blur)$")
ROBUST_KEY = re.compile(r"^(dense_)?" + PERTURBED_KEY.pattern.removeprefix("^"))
# Each report also carries the trial's grid so far: the main metrics of every density it has
# finished, as flat keys ("test_acc_d0.05"), so that Ray Tune's one-row-per-trial views
# (ExperimentAnalysis.dataframe(), get_best_config(metric="val_acc_d0.05")) hold the whole grid.
GRID_METRICS = ("test_acc", "val_acc", "lmc", "cka")
GRID_KEY = re.compile(r"^(" + "|".join(GRID_METRICS) + r")_d[0-9.e+-]+$")
# The keys a search rule reads (with the per-copy keys, for the standard errors).
RULE_KEYS = ("knob", "temperature", "dense_seed", "density", "test_acc", "val_acc", "lmc", "cka", "status",
             "n_copies")


@dataclass(frozen=True)
class CellRow:
    """One (temperature, dense seed, density) cell of a study.

    A cell whose dense model or any retrained copy diverged has status "diverged" and NaN in
    every metric it could not compute; its keys are the same as an ok cell's.

    Attributes:
        knob: the temperature-like knob ("epochs", "batch_size", "sam_rho", "lr").
        temperature: the knob's value, in its unit (epochs, examples, rho, lr).
        dense_seed: seed of the dense model's initialisation and data order.
        density: target density, fraction of prunable weights kept, 0-1.
        density_actual: achieved density, 0-1.
        dense_test_acc: test accuracy of the dense model before pruning, 0-1 (NaN if it diverged).
        retrain_epochs: epochs each copy was retrained.
        n_copies: retrained copies K.
        code_version: package version and git commit of the trial's code.
        test_acc: mean over copies of each copy's test accuracy averaged over its last epochs, 0-1.
        test_acc_std: population std of that over copies, 0-1.
        train_err: mean training error of the copies (eval mode, the LMC subset), 0-1.
        lmc: mean over pairs of copies of mc on the training-error scale; < 0 is a barrier.
        lmc_std: population std of mc over pairs.
        cka: mean over pairs of linear CKA of the copies' softmax outputs, 0-1.
        cka_std: population std of CKA over pairs.
        seconds: wall time of this cell (prune, retrain, measure), seconds.
        seconds_setup: data loading and model building, on the trial's first row only, seconds.
        seconds_dense: dense training by this trial, on the trial's first row only, seconds.
        seconds_dense_wait: waiting for another trial's share of the dense run (epochs knob),
            on the trial's first row only, seconds.
        dense_epochs_trained: dense epochs this trial trained itself, on its first row only (an
            epochs study shares one run per dense seed: these add up to its largest temperature).
        seconds_prune: computing masks, seconds.
        seconds_retrain: retraining all copies, seconds.
        seconds_lmc: LMC of all pairs, seconds (of which seconds_lmc_bn on BatchNorm re-estimation).
        seconds_lmc_bn: BatchNorm re-estimation within seconds_lmc, seconds.
        seconds_cka: CKA of all pairs, seconds.
        peak_rss_mb: the trial process's peak resident memory so far, MiB.
        gpu_peak_mb: peak CUDA memory held by tensors since the trial started, MiB (NaN on CPU).
        gpu_reserved_peak_mb: peak CUDA memory reserved by torch's caching allocator since the
            trial started, MiB: what the card must hold for this trial (NaN on CPU).
        device: the device the trial computed on ("cpu", "cuda:0"; "" in studies from before it).
        pruned_layers: the layers pruning acts on with their weight counts, "name (Type shape) numel, ...".
        data_stats: for the user's own files (npz, imagefolder), the per-channel mean and std of
            the training split that standardised them, "mean a b c; std d e f"; "" otherwise.
        scratch_test_acc: controls.scratch: mean over scratch copies (the cell's mask on a fresh
            initialisation, trained with the retraining budget) of their test accuracy, 0-1.
        scratch_test_acc_std: population std of that over scratch copies, 0-1.
        inherit_gain: test_acc - scratch_test_acc: what inheriting the dense weights gained, 0-1.
        scratch_seeds: the scratch copies' initialisation seeds, space-separated ("" when off).
        seconds_scratch: training and scoring the scratch copies, seconds (0 when off).
        agreement_dense: metrics.beyond_accuracy: mean over copies of the fraction of test inputs
            on which the copy predicts the dense model's class, 0-1.
        agreement_dense_std: population std of that over copies, 0-1.
        seconds_beyond: perturbed test sets and agreement, seconds (0 when off).
        intrinsic_dim: data.intrinsic_dim, the principal components the inputs were projected
            on (0: the data as is).
        pca_variance_kept: fraction of the training split's variance in those components, 0-1
            (NaN when not projected).
        n_val: examples held out of the training split for validation (0: no validation split).
        validation_seed: the seed that chose them (data.validation_seed).
        n_train: training examples the models were trained on, after data.train_subset and
            the validation split (0 in studies written before it was recorded).
        train_subset: data.train_subset (0: the whole training split).
        train_subset_seed: the seed that drew it (data.train_subset_seed).
        model_width: model.width, the width multiplier the model was built with.
        proxy: the proxy's axes as fractions of the full study ("width 0.25, dense_epochs 0.5";
            `contract.proxy`), "" for a full-size study.
        val_acc: mean over copies of each copy's validation accuracy averaged over its last
            epochs, as test_acc, 0-1 (NaN without a validation split).
        val_acc_std: population std of that over copies, 0-1.
        dense_val_acc: validation accuracy of the dense model before pruning, 0-1.
        dense_alpha: metrics.spectra: the dense model's heavy-tail exponent alpha of W^T W,
            mean over the prunable layers (Hill estimator, x_min at the peak as AlphaPruning;
            `trainables.method.spectra`); smaller is better trained. NaN when off.
        dense_alpha_hat: mean over layers of alpha x log10 of the largest eigenvalue.
        dense_log_spectral_norm: mean over layers of log10 of the largest eigenvalue of W^T W.
        dense_stable_rank: mean over layers of sum(eigenvalues) / largest.
        pruned_alpha, pruned_alpha_hat, pruned_log_spectral_norm, pruned_stable_rank: the same of
            the pruned model before retraining (its zero eigenvalues left out of the fit).
        spectra_layers: the per-layer values, JSON text {"dense": {layer: {alpha, alpha_hat,
            log_spectral_norm, stable_rank}}, "pruned": {...}} ("" when off).
        seconds_spectra: the spectra of this cell's pruned model, plus the dense model's on the
            trial's first row, seconds.
        per_copy: flat per-copy and per-pair values: test_acc_copy{k} (0-1), lmc_pair{i}_{j},
            cka_pair{i}_{j}.
        robust: metrics.beyond_accuracy: test accuracy (0-1) on each perturbed test set, mean
            over copies (test_acc_noise{level}, test_acc_contrast, ...) and the dense model's
            (dense_test_acc_noise{level}, ...); `trainables.method.beyond`.
    """

    knob: str
    temperature: float
    dense_seed: int
    density: float
    density_actual: float
    dense_test_acc: float
    retrain_epochs: int
    n_copies: int
    code_version: str
    test_acc: float = NAN
    test_acc_std: float = NAN
    train_err: float = NAN
    lmc: float = NAN
    lmc_std: float = NAN
    cka: float = NAN
    cka_std: float = NAN
    seconds: float = NAN
    seconds_setup: float = 0.0
    seconds_dense: float = 0.0
    seconds_dense_wait: float = 0.0
    dense_epochs_trained: float = 0.0
    seconds_prune: float = NAN
    seconds_retrain: float = NAN
    seconds_lmc: float = NAN
    seconds_lmc_bn: float = NAN
    seconds_cka: float = NAN
    peak_rss_mb: float = NAN
    gpu_peak_mb: float = NAN
    gpu_reserved_peak_mb: float = NAN
    device: str = ""
    pruned_layers: str = ""
    data_stats: str = ""
    scratch_test_acc: float = NAN
    scratch_test_acc_std: float = NAN
    inherit_gain: float = NAN
    scratch_seeds: str = ""
    seconds_scratch: float = 0.0
    agreement_dense: float = NAN
    agreement_dense_std: float = NAN
    seconds_beyond: float = 0.0
    intrinsic_dim: int = 0
    pca_variance_kept: float = NAN
    n_val: int = 0
    validation_seed: int = 0
    n_train: int = 0
    train_subset: int = 0
    train_subset_seed: int = 0
    model_width: float = 1.0
    proxy: str = ""
    val_acc: float = NAN
    val_acc_std: float = NAN
    dense_val_acc: float = NAN
    dense_alpha: float = NAN
    dense_alpha_hat: float = NAN
    dense_log_spectral_norm: float = NAN
    dense_stable_rank: float = NAN
    pruned_alpha: float = NAN
    pruned_alpha_hat: float = NAN
    pruned_log_spectral_norm: float = NAN
    pruned_stable_rank: float = NAN
    spectra_layers: str = ""
    seconds_spectra: float = 0.0
    per_copy: dict[str, float] = field(default_factory=dict)
    robust: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """Return "ok" when the cell has a finite test accuracy, else "diverged"."""
        return "ok" if math.isfinite(self.test_acc) else "diverged"

    def with_values(self, values: dict[str, float]) -> "CellRow":
        """Return a copy with `values` set: fields by name, per-copy keys and perturbed-set accuracies in their dicts.

        Raises:
            KeyError: a key that is neither a field nor a per-copy, per-pair or perturbed-set name.
        """
        names = {f.name for f in dataclasses.fields(self)} - {"per_copy", "robust"}
        unknown = [k for k in values if k not in names and not PER_COPY_KEY.match(k) and not ROBUST_KEY.match(k)]
        if unknown:
            raise KeyError(f"not a result-row key: {unknown}")
        per_copy = {**self.per_copy, **{k: float(v) for k, v in values.items() if PER_COPY_KEY.match(k)}}
        robust = {**self.robust, **{k: float(v) for k, v in values.items() if k not in names and ROBUST_KEY.match(k)}}
        return dataclasses.replace(self, **{k: v for k, v in values.items() if k in names}, per_copy=per_copy,
                                   robust=robust)

    def to_report(self) -> dict[str, float | int | str]:
        """Return the flat dict for `tune.report`: every field, `status`, every per-copy key and perturbed-set accuracy.

        Absent per-copy keys are NaN; the trial sets every perturbed-set key of its config (NaN first).
        """
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("per_copy", "robust")}
        row["status"] = self.status
        for key in per_copy_keys(self.n_copies):
            row[key] = float(self.per_copy.get(key, NAN))
        row.update(self.robust)
        return row


def per_copy_keys(copies: int) -> list[str]:
    """Return the per-copy and per-pair keys of a row with `copies` copies, in a stable order."""
    keys = [f"test_acc_copy{k}" for k in range(copies)]
    pairs = [(i, j) for i in range(copies) for j in range(i + 1, copies)]
    return keys + [f"{m}_pair{i}_{j}" for m in ("lmc", "cka") for i, j in pairs]


def row_fields() -> list[str]:
    """Return the names of the plain keys every reported row has (CellRow's fields and status)."""
    return [f.name for f in dataclasses.fields(CellRow) if f.name not in ("per_copy", "robust")] + ["status"]


def report_keys(copies: int) -> list[str]:
    """Return every key of a reported row with `copies` copies."""
    return row_fields() + per_copy_keys(copies)


def rule_keys(row: dict) -> dict:
    """Return the items of a reported row that a search rule reads (RULE_KEYS and the per-copy keys)."""
    return {k: v for k, v in row.items() if k in RULE_KEYS or PER_COPY_KEY.match(k)}


def grid_keys(row: CellRow) -> dict[str, float]:
    """Return the flat grid keys of `row`'s density: {"test_acc_d0.05": ..., "val_acc_d0.05": ..., ...}."""
    return {f"{metric}_d{row.density:g}": float(getattr(row, metric)) for metric in GRID_METRICS}
