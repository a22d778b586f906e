"""Training and evaluation loops: SGD or SAM on a step learning-rate schedule, masks held, snapshots.

Plain PyTorch, no Ray. The hot loop never synchronises with the host: the loss is summed on the
device and read once per epoch, which is also where non-finite losses are detected. Device,
seeding, autocast and mode switches live in `trainables.runtime`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainables.data import Dataset, iterate_batches, steps_per_epoch
from trainables.runtime import autocast, bn_momentum, full_precision, training_mode
from trainables.schedules import StepSchedule, epoch_schedule, iteration_schedule

Masks = dict[str, torch.Tensor]
__all__ = ["StepSchedule", "epoch_schedule", "iteration_schedule", "train", "retrain_copies", "evaluate",
           "Evaluation", "TrainResult", "RetrainedCopy", "data_steps_per_epoch"]


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes:
        snapshots: epoch -> CPU copy of the model's state_dict at the end of that epoch.
        epoch_losses: mean training loss (cross-entropy, nats) of each finished epoch.
        diverged: a non-finite loss was seen; training stopped at that epoch.
        steps: optimizer steps taken.
        seconds: wall time of the run.
    """

    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    epoch_losses: list[float] = field(default_factory=list)
    diverged: bool = False
    steps: int = 0
    seconds: float = 0.0


def train(model: nn.Module, data: Dataset, *, schedule: StepSchedule, steps: int, batch_size: int, seed: int,
          momentum: float, weight_decay: float, sam_rho: float = 0.0, masks: Masks | None = None,
          drop_last: bool = False, augment: bool = True, snapshot_epochs: tuple[int, ...] = (),
          on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train `model` in place on `data` for `steps` optimizer steps and return snapshots, losses and divergence.

    Taking the first e epochs' steps of a longer schedule gives exactly the model of epoch e of
    the full run: the schedule, data order and augmentation of an epoch depend only on its index.

    Args:
        model: the network, already on the data's device.
        data: device-resident dataset.
        schedule: learning rate per step (may run longer than `steps`).
        steps: optimizer steps to take.
        batch_size: examples per step.
        seed: data-order and augmentation seed.
        momentum: SGD momentum.
        weight_decay: L2 coefficient applied by SGD to every parameter.
        sam_rho: SAM radius; 0 trains with plain SGD.
        masks: parameter name -> keep-mask; masked weights stay exactly zero throughout.
        drop_last: skip the final partial batch of each epoch.
        augment: apply the dataset's augmentation.
        snapshot_epochs: epochs after which to keep a CPU copy of the weights.
        on_epoch: called with (epoch, mean loss) after each finished epoch (progress display).
    """
    started = time.perf_counter()
    device = data.x_train.device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=schedule.lr, momentum=momentum, weight_decay=weight_decay)
    masked = _masked_pairs(model, masks)
    result = TrainResult()
    augmentation = data.augmentation if augment else "none"
    model.train()
    step, epoch = 0, 0
    while step < steps:
        loss_sum = torch.zeros((), device=device)
        n_batches = 0
        for x, y in _limit(iterate_batches(data.x_train, data.y_train, batch_size=batch_size, seed=seed,
                                           epoch=epoch, drop_last=drop_last, augmentation=augmentation,
                                           pad_value=data.pad_value),
                           steps - step):
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(step)
            loss = _sgd_or_sam_step(model, optimizer, (x, y), sam_rho=sam_rho, masked=masked, device=device)
            loss_sum += loss.detach().float()
            n_batches += 1
            step += 1
        epoch += 1
        mean_loss = (loss_sum / max(n_batches, 1)).item()  # the one host sync per epoch
        result.epoch_losses.append(mean_loss)
        if not np.isfinite(mean_loss):
            result.diverged = True
            break
        if epoch in snapshot_epochs:
            result.snapshots[epoch] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, mean_loss)
    result.steps = step
    result.seconds = time.perf_counter() - started
    return result


def _limit(batches: Iterator, n: int) -> Iterator:
    for i, batch in enumerate(batches):
        if i >= n:
            return
        yield batch


def _masked_pairs(model: nn.Module, masks: Masks | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not masks:
        return []
    named = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(named))
    if unknown:
        raise KeyError(f"masks name parameters the model does not have: {unknown}")
    return [(named[name], mask.to(device=named[name].device, dtype=named[name].dtype))
            for name, mask in masks.items()]


def _sgd_or_sam_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, torch.Tensor],
                     *, sam_rho: float, masked: list, device: torch.device) -> torch.Tensor:
    x, y = batch
    optimizer.zero_grad(set_to_none=True)
    with autocast(device):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    _apply_masks(masked, grads=True)
    if sam_rho > 0:
        _sam_second_pass(model, batch, rho=sam_rho, device=device)
        _apply_masks(masked, grads=True)
    optimizer.step()
    _apply_masks(masked, grads=False)
    return loss


def _sam_second_pass(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, rho: float,
                     device: torch.device) -> None:
    # Standard SAM (Foret et al. 2021): climb to w + rho * g / (||g|| + 1e-12) with the global
    # gradient norm, take the gradient there, come back to w. The optimizer then steps with it.
    params = [p for p in model.parameters() if p.grad is not None]
    grads = [p.grad for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    eps = torch._foreach_mul(grads, rho / (norm + 1e-12))
    with torch.no_grad():
        torch._foreach_add_(params, eps)
    for p in params:
        p.grad = None
    x, y = batch
    with bn_momentum(model, 0.0), autocast(device):  # BN statistics from the first pass only
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        torch._foreach_sub_(params, eps)


@torch.no_grad()
def _apply_masks(masked: list[tuple[torch.Tensor, torch.Tensor]], *, grads: bool) -> None:
    for param, mask in masked:
        if grads:
            if param.grad is not None:
                param.grad.mul_(mask)
        else:
            param.mul_(mask)


@dataclass(frozen=True)
class Evaluation:
    """Accuracy (fraction correct, 0-1) and mean cross-entropy loss (nats) on a set of examples."""

    accuracy: float
    loss: float

    @property
    def error(self) -> float:
        """Fraction misclassified, 0-1."""
        return 1.0 - self.accuracy


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> Evaluation:
    """Return accuracy and loss of `model` in eval mode on (`x`, `y`), unaugmented, in float32."""
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    loss_sum = torch.zeros((), device=x.device)
    with training_mode(model, False), full_precision(x.device):
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits = model(xb)
            loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
            correct += (logits.argmax(1) == yb).sum()
    n = x.shape[0]
    return Evaluation(correct.item() / n, loss_sum.item() / n)


def data_steps_per_epoch(data: Dataset, batch_size: int, drop_last: bool) -> int:
    """Return optimizer steps per epoch of `data`'s training split."""
    return steps_per_epoch(data.x_train.shape[0], batch_size, drop_last)


@dataclass
class RetrainedCopy:
    """One retrained copy of a pruned model.

    Attributes:
        model: the retrained network (masked weights exactly zero).
        test_acc: mean test accuracy (0-1) over the last `last_epochs` epochs of retraining
            (the final one when fewer ran).
        train: the TrainResult of its retraining.
    """

    model: nn.Module
    test_acc: float
    train: TrainResult


def retrain_copies(pruned: nn.Module, masks: Masks, data: Dataset, *, seeds: list[int], schedule: StepSchedule,
                   epochs: int, batch_size: int, momentum: float, weight_decay: float, augment: bool,
                   last_epochs: int, drop_last: bool = False) -> list[RetrainedCopy]:
    """Return one retrained copy per seed, all starting from the same pruned weights with masks held.

    Seeds change data order and augmentation only. Plain SGD (DESIGN.md 2.3), whatever trained
    the dense model.

    Args:
        pruned: the pruned model (masked weights zero); left unchanged.
        masks: parameter name -> keep-mask.
        data: device-resident dataset.
        seeds: one data seed per copy.
        schedule: the retraining learning-rate schedule (lr rewinding: the dense schedule).
        epochs: epochs of retraining.
        batch_size: examples per step.
        momentum: SGD momentum.
        weight_decay: L2 coefficient.
        augment: apply the dataset's augmentation.
        last_epochs: test accuracy is averaged over this many final epochs (all of them when fewer ran).
        drop_last: skip partial batches.
    """
    copies = []
    first_scored = epochs - last_epochs + 1
    for seed in seeds:
        model = copy.deepcopy(pruned)
        accuracies: list[float] = []

        def score(epoch: int, _loss: float, *, model: nn.Module = model, accuracies: list = accuracies) -> None:
            if epoch >= first_scored:
                accuracies.append(evaluate(model, data.x_test, data.y_test).accuracy)

        result = train(model, data, schedule=schedule, steps=epochs * schedule.steps_per_epoch, batch_size=batch_size,
                       seed=seed, momentum=momentum, weight_decay=weight_decay, masks=masks, drop_last=drop_last,
                       augment=augment, on_epoch=score)
        test_acc = sum(accuracies) / len(accuracies) if accuracies and not result.diverged else float("nan")
        copies.append(RetrainedCopy(model, test_acc, result))
    return copies
