"""Loss-landscape metrics between retrained copies: linear mode connectivity and CKA (DESIGN.md 2.4).

Pure functions of models and tensors: no file I/O, no global RNG, no Ray. Every forward pass
here runs in float32 (`full_precision`) whatever the device, and CKA itself in float64: a bf16
autocast moved CKA by an eighth of the default cka_eps and flipped the sign of an mc.
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
import time

import torch
from torch import nn

from contract.names import BN_STATS
from trainables.run.engine import evaluate, evaluate_stacked
from trainables.run.runtime import bn_momentum, full_precision, synchronize, training_mode
from trainables.run.stacked import repeat_input, stack_models, unstackable_reason


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Return linear CKA (biased HSIC, Kornblith et al. 2019) between features x (n, p) and y (n, q), 0-1.

    Computed in feature space, ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with column-centred
    Xc, Yc, in float64: equal to the Gram-matrix form at a fraction of its cost when n >> p, q.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same examples in both: {x.shape[0]} vs {y.shape[0]} rows")
    xc = x.double().flatten(1)
    yc = y.double().flatten(1)
    xc = xc - xc.mean(0, keepdim=True)
    yc = yc - yc.mean(0, keepdim=True)
    cross = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    denom = torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)
    return float(cross / denom) if denom > 0 else float("nan")


@torch.inference_mode()
def softmax_outputs(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024, copies: int = 1) -> torch.Tensor:
    """Return the eval-mode softmax outputs of `model` on `x` in float32: (n, classes), or (copies, n, classes).

    With `copies` > 1, `model` is a stacked model (`trainables.run.stacked`) and every copy sees `x`.
    """
    with training_mode(model, False), full_precision(x.device):
        outs = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            logits = model(repeat_input(xb, copies)).float().view(xb.shape[0], copies, -1)
            outs.append(torch.softmax(logits, dim=2))
    out = torch.cat(outs).transpose(0, 1)
    return out[0] if copies == 1 else out


def output_cka(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> float:
    """Return linear CKA between two models' softmax outputs on `x` (unaugmented, in its given order)."""
    return linear_cka(softmax_outputs(model_a, x, batch_size=batch_size),
                      softmax_outputs(model_b, x, batch_size=batch_size))


@torch.no_grad()
def reestimate_bn_statistics(model: nn.Module, x: torch.Tensor, *, batch_size: int, stats: str = "paper",
                             copies: int = 1) -> None:
    """Reset every BatchNorm layer's running mean/var and re-estimate them from one pass over `x`.

    The pass runs in train mode over `x` in its given order (unshuffled, unaugmented), in
    batches of `batch_size`, each batch normalised by its own statistics as in training.

    stats "paper" (the default, the paper's code): the running mean and variance end as the
    average of the per-batch means and unbiased variances weighted by batch size (momentum
    b / (n + b) for a batch of b after n examples). With equal batches this is exactly
    `torch.optim.swa_utils.update_bn`; with a partial last batch, update_bn weights that batch
    like a full one and the paper's code does not.

    stats "exact": the pooled mean and unbiased variance of all activations that reached each
    layer (Chan et al.'s pairwise formula in float64; one forward with momentum 1 when `x` fits
    in one batch). It differs from "paper" by 1e-4 to 1e-3 relative in the variances.

    With `copies` > 1, `model` is a stacked model and every copy sees every batch: the copies'
    statistics are re-estimated in the same passes (each copy's BatchNorm channels are its own).

    Raises:
        ValueError: unknown `stats`.
    """
    if stats not in BN_STATS:
        raise ValueError(f"unknown BatchNorm statistics {stats!r}; use one of {', '.join(BN_STATS)}")
    if stats == "exact":
        _reestimate_exact(model, x, batch_size=batch_size, copies=copies)
        return
    with bn_momentum(model, None) as norms, training_mode(model, True), full_precision(x.device):
        for m in norms:
            m.reset_running_stats()
        seen = 0
        for start in range(0, x.shape[0], batch_size):
            batch = x[start:start + batch_size]
            for m in norms:
                m.momentum = batch.shape[0] / (seen + batch.shape[0])
            model(repeat_input(batch, copies))
            seen += batch.shape[0]


def _reestimate_exact(model: nn.Module, x: torch.Tensor, *, batch_size: int, copies: int) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    if x.shape[0] <= batch_size:
        # The whole set is one batch: with momentum 1 each layer stores exactly that batch's mean
        # and unbiased variance. One forward pass, no hooks: the cheap path when the set fits.
        with bn_momentum(model, 1.0), training_mode(model, True), full_precision(x.device):
            model(repeat_input(x, copies))
        return
    # Per layer: [count, mean, sum of squared deviations] of everything seen so far.
    stats: dict[nn.Module, list] = {m: [0, 0.0, 0.0] for m in norms}

    def hook(module, inputs):
        a = inputs[0].float()
        dims = [d for d in range(a.dim()) if d != 1]
        var, mean = torch.var_mean(a, dim=dims, correction=0)
        n_b = a.numel() // a.shape[1]
        n, mean_all, m2 = stats[module]
        mean, m2_b = mean.double(), var.double() * n_b
        delta = mean - mean_all
        total = n + n_b
        stats[module] = [total, mean_all + delta * (n_b / total), m2 + m2_b + delta * delta * (n * n_b / total)]

    handles = [m.register_forward_pre_hook(hook) for m in norms]
    try:
        with training_mode(model, True), full_precision(x.device):
            for start in range(0, x.shape[0], batch_size):
                model(repeat_input(x[start:start + batch_size], copies))
    finally:
        for h in handles:
            h.remove()
    for m in norms:
        n, mean, m2 = stats[m]
        m.running_mean.copy_(mean.to(m.running_mean.dtype))
        m.running_var.copy_((m2 / max(n - 1, 1)).to(m.running_var.dtype))


def interpolate_state(model_a: nn.Module, model_b: nn.Module, t: float) -> dict[str, torch.Tensor]:
    """Return the state (1 - t) * a + t * b for every floating-point entry (parameters, BN affine, buffers)."""
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    return {k: (torch.lerp(v, state_b[k], t) if v.is_floating_point() else v.clone())
            for k, v in state_a.items()}


def mode_connectivity(errors: list[float]) -> float:
    """Return mc = mid - e(t*) for errors e(t) along a path, mid = (e(0) + e(1)) / 2, t* = argmax |e(t) - mid|.

    Negative: a barrier (poorly connected). About zero: well connected. Errors are fractions, 0-1.
    """
    mid = (errors[0] + errors[-1]) / 2
    peak = max(errors, key=lambda e: abs(e - mid))
    return mid - peak


def linear_mode_connectivity(model_a: nn.Module, model_b: nn.Module, data: tuple[torch.Tensor, torch.Tensor],
                             *, points: int = 11, subset: int | None = None, batch_size: int = 1024,
                             bn_batch_size: int, bn_stats: str, stacked: bool = True) -> dict:
    """Return the training-error curve on the straight line between two models and its mc.

    At each t in linspace(0, 1, points) the interpolated model's BatchNorm statistics are
    re-estimated on the (first `subset` examples of the) training data, then its error is measured
    there; both without augmentation. The end points get the same treatment.

    Args:
        model_a: one retrained copy (not modified).
        model_b: the other copy, same architecture.
        data: (inputs, labels) of the training set, unaugmented.
        points: number of points on the line, ends included (>= 2).
        subset: use only the first `subset` examples for BN re-estimation and error; None: all.
        batch_size: examples per forward pass when measuring errors.
        bn_batch_size: examples per batch of the BatchNorm re-estimation pass (the paper: 64).
        bn_stats: "paper" or "exact", see `reestimate_bn_statistics`.
        stacked: evaluate the points as one stacked model (`trainables.run.stacked`): their BatchNorm
            statistics in the same passes, then all their errors in one pass (at `batch_size` /
            `points` examples per pass, so memory stays that of one model). Otherwise one point
            after another; models with a layer that has no stacked form always are.

    Returns:
        {"t": list of t, "train_err": list of training errors (fraction, 0-1), "mc": float,
         "seconds_bn": time re-estimating BatchNorm, "seconds_eval": time measuring errors}.
    """
    if points < 2:
        raise ValueError(f"LMC needs at least 2 points, got {points}")
    x, y = data
    if subset is not None:
        x, y = x[:subset], y[:subset]
    ts = torch.linspace(0, 1, points).tolist()
    if stacked and unstackable_reason(model_a) is None:
        started = time.perf_counter()
        line = stack_models(model_a, [interpolate_state(model_a, model_b, t) for t in ts])
        reestimate_bn_statistics(line, x, batch_size=bn_batch_size, stats=bn_stats, copies=points)
        synchronize(x.device)  # the queued BatchNorm kernels belong to seconds_bn
        middle = time.perf_counter()
        errors = [e.error for e in evaluate_stacked(line, x, y, copies=points, batch_size=max(1, batch_size // points))]
        return {"t": ts, "train_err": errors, "mc": mode_connectivity(errors), "seconds_bn": middle - started,
                "seconds_eval": time.perf_counter() - middle}
    probe = copy.deepcopy(model_a)
    errors, seconds_bn, seconds_eval = [], 0.0, 0.0
    for t in ts:
        started = time.perf_counter()
        probe.load_state_dict(interpolate_state(model_a, model_b, t))
        reestimate_bn_statistics(probe, x, batch_size=bn_batch_size, stats=bn_stats)
        synchronize(x.device)
        middle = time.perf_counter()
        errors.append(evaluate(probe, x, y, batch_size=batch_size).error)
        seconds_bn += middle - started
        seconds_eval += time.perf_counter() - middle
    return {"t": ts, "train_err": errors, "mc": mode_connectivity(errors), "seconds_bn": seconds_bn,
            "seconds_eval": seconds_eval}


def measure_copies(models: list[nn.Module], data: tuple[torch.Tensor, torch.Tensor], *, lmc: bool, lmc_points: int,
                   lmc_subset: int | None, cka: bool, cka_examples: int, batch_size: int, bn_batch_size: int,
                   bn_stats: str, stacked: bool = True) -> dict[str, float]:
    """Return LMC and CKA over every pair of retrained copies, plus their training error.

    Args:
        models: the K >= 1 retrained copies of one cell.
        data: (inputs, labels) of the training set, unaugmented.
        lmc: measure linear mode connectivity (mc, training-error scale).
        lmc_points: points on each line, ends included.
        lmc_subset: first examples used for BN re-estimation and error; None: all.
        cka: measure CKA of softmax outputs.
        cka_examples: CKA uses the first this many training examples.
        batch_size: examples per forward pass when measuring errors and outputs.
        bn_batch_size: examples per batch of BatchNorm re-estimation.
        bn_stats: "paper" or "exact", see `reestimate_bn_statistics`.
        stacked: evaluate stacked models: the copies at once for training error and CKA outputs,
            the points of each LMC line at once (see `linear_mode_connectivity`).

    Returns:
        Flat floats: "train_err" (mean training error of the copies in eval mode, 0-1),
        "lmc"/"lmc_std" and "cka"/"cka_std" (mean and population std over pairs; NaN when off or
        K < 2), "lmc_pair{i}_{j}", "cka_pair{i}_{j}", "seconds_lmc" (of which "seconds_lmc_bn" went
        to BatchNorm re-estimation), "seconds_cka".
    """
    x, y = data
    sub_x, sub_y = (x, y) if lmc_subset is None else (x[:lmc_subset], y[:lmc_subset])
    stacked = stacked and len(models) > 1 and unstackable_reason(models[0]) is None
    together = stack_models(models[0], [m.state_dict() for m in models]) if stacked else None
    if together is not None:
        errors = [e.error for e in evaluate_stacked(together, sub_x, sub_y, copies=len(models),
                                                    batch_size=max(1, batch_size // len(models)))]
    else:
        errors = [evaluate(m, sub_x, sub_y, batch_size=batch_size).error for m in models]
    row: dict[str, float] = {"train_err": sum(errors) / len(models)}
    pairs = list(itertools.combinations(range(len(models)), 2))
    row["seconds_lmc_bn"] = 0.0
    for metric, enabled in (("lmc", lmc), ("cka", cka)):
        started = time.perf_counter()
        values = []
        outputs = None
        if metric == "cka" and enabled:  # every copy's outputs once, then every pair
            outputs = (softmax_outputs(together, x[:cka_examples], batch_size=max(1, batch_size // len(models)),
                                       copies=len(models)) if together is not None else
                       [softmax_outputs(m, x[:cka_examples], batch_size=batch_size) for m in models])
        for i, j in pairs if enabled else []:
            if metric == "lmc":
                curve = linear_mode_connectivity(models[i], models[j], (x, y), points=lmc_points, subset=lmc_subset,
                                                 batch_size=batch_size, bn_batch_size=bn_batch_size,
                                                 bn_stats=bn_stats, stacked=stacked)
                value = curve["mc"]
                row["seconds_lmc_bn"] += curve["seconds_bn"]
            else:
                value = linear_cka(outputs[i], outputs[j])
            row[f"{metric}_pair{i}_{j}"] = value
            values.append(value)
        row[metric], row[f"{metric}_std"] = _mean_std(values)
        row[f"seconds_{metric}"] = time.perf_counter() - started
    return row


def _mean_std(values: list[float]) -> tuple[float, float]:
    # Mean and population std over pairs; one undefined pair (a NaN CKA of a copy whose outputs
    # are constant, a NaN mc) makes both NaN instead of failing the trial (statistics.pstdev raises).
    if not values or not all(math.isfinite(v) for v in values):
        return float("nan"), float("nan")
    mean = statistics.fmean(values)
    return mean, math.sqrt(statistics.fmean([(v - mean) ** 2 for v in values]))
