"""Training and evaluation loops: SGD or SAM on a step learning-rate schedule, masks held, snapshots.

Plain PyTorch, no Ray. The hot loop never synchronises with the host: the loss is summed on the
device and read once per epoch, which is also where non-finite losses are detected. Device,
seeding, autocast and mode switches live in `trainables.run.runtime`; a run's settings in
`trainables.run.settings`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainables.data.dataset import Dataset, iterate_batches, steps_per_epoch
from trainables.run.runtime import autocast, bf16_training, bn_momentum, full_precision, training_mode
from trainables.run.settings import SGDRun
from trainables.run.stacked import repeat_input, stack_inputs
from trainables.run.watchdog import beat

Masks = dict[str, torch.Tensor]
__all__ = ["train", "train_stacked", "evaluate", "evaluate_stacked", "Evaluation", "TrainResult",
           "data_steps_per_epoch", "Masks"]


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes:
        snapshots: epoch -> CPU copy of the model's state_dict at the end of that epoch.
        epoch_losses: mean training loss (cross-entropy, nats) of each finished epoch.
        diverged: a non-finite loss was seen; training stopped at that epoch.
        steps: optimizer steps taken by this run.
        seconds: wall time of the run.
        optimizer_state: the SGD state (momentum buffers) at the end, on the CPU: with the
            weights, what `train(start_epoch=...)` needs to continue the run exactly.
    """

    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    epoch_losses: list[float] = field(default_factory=list)
    diverged: bool = False
    steps: int = 0
    seconds: float = 0.0
    optimizer_state: dict | None = None


def train(model: nn.Module, data: Dataset, run: SGDRun, *, seed: int, masks: Masks | None = None,
          snapshot_epochs: tuple[int, ...] = (), on_epoch: Callable[[int, list[float]], None] | None = None,
          start_epoch: int = 0, optimizer_state: dict | None = None) -> TrainResult:
    """Train `model` in place on `data` for `run.steps` optimizer steps and return snapshots, losses and divergence.

    Taking the first e epochs' steps of a longer schedule gives exactly the model of epoch e of
    the full run: the schedule, data order and augmentation of an epoch depend only on its index.
    For the same reason a run continued from epoch a (`start_epoch`, with the weights and the
    `optimizer_state` it had there) equals the uninterrupted run.

    Args:
        model: the network, already on the data's device.
        data: device-resident dataset.
        run: the optimizer's settings, schedule and number of steps (`trainables.run.settings`).
        seed: data-order and augmentation seed.
        masks: parameter name -> keep-mask; masked weights stay exactly zero throughout.
        snapshot_epochs: epochs after which to keep a CPU copy of the weights.
        on_epoch: called with (epoch, [mean loss]) after each finished epoch (progress, scoring).
        start_epoch: continue a run at this epoch: `run.steps` counts from the run's start, and
            the model holds the weights of that epoch.
        optimizer_state: the run's `optimizer_state` at `start_epoch` (None: fresh momentum).
    """
    return _train_loop(model, data, run, seeds=[seed], masks=masks, snapshot_epochs=snapshot_epochs,
                       on_epoch=on_epoch, start_epoch=start_epoch, optimizer_state=optimizer_state)[0]


def train_stacked(stacked: nn.Module, data: Dataset, run: SGDRun, *, seeds: list[int], masks: Masks | None = None,
                  on_epoch: Callable[[int, list[float]], None] | None = None) -> list[TrainResult]:
    """Train K = len(seeds) stacked copies (`trainables.run.stacked`) in place; return one TrainResult per copy.

    Copy k sees exactly the batches `train` would give it with seed seeds[k]; the loss is the sum
    of the copies' losses, so each copy's gradient is its own. SGD momentum and weight decay act
    element-wise, so per copy; SAM climbs with each copy's own gradient norm. A copy whose loss
    turns non-finite is marked diverged and the others go on. Each result's `seconds` is the
    run's wall time divided by K (their sum is the wall time). Arguments as for `train`, with
    `masks` in the stacked shapes (`stack_masks`).
    """
    return _train_loop(stacked, data, run, seeds=list(seeds), masks=masks, snapshot_epochs=(), on_epoch=on_epoch,
                       start_epoch=0, optimizer_state=None)


def _train_loop(model: nn.Module, data: Dataset, run: SGDRun, *, seeds: list[int], masks: Masks | None,
                snapshot_epochs: tuple[int, ...], on_epoch: Callable[[int, list[float]], None] | None,
                start_epoch: int, optimizer_state: dict | None) -> list[TrainResult]:
    started = time.perf_counter()
    device, copies = data.x_train.device, len(seeds)
    precision = "bf16" if bf16_training(device, run.precision) else "fp32"  # decided once, not per step
    params = [p for p in model.parameters() if p.requires_grad]
    schedule, steps = run.schedule, run.steps
    optimizer = torch.optim.SGD(params, lr=schedule.lr, momentum=run.momentum, weight_decay=run.weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    masked = _masked_pairs(model, masks)
    results = [TrainResult() for _ in seeds]
    augmentation = data.augmentation if run.augment else "none"
    model.train()
    epoch = start_epoch
    step = first_step = start_epoch * schedule.steps_per_epoch
    while step < steps:
        loss_sum = torch.zeros(copies, device=device)
        n_batches = 0
        streams = [iterate_batches(data.x_train, data.y_train, batch_size=run.batch_size, seed=seed, epoch=epoch,
                                   drop_last=run.drop_last, augmentation=augmentation, pad_value=data.pad_value)
                   for seed in seeds]
        for batches in _limit(zip(*streams, strict=True), steps - step):
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(step)
            batch = batches[0] if copies == 1 else (stack_inputs([b[0] for b in batches]),
                                                    torch.stack([b[1] for b in batches], dim=1))
            losses = _sgd_or_sam_step(model, optimizer, batch, copies=copies, sam_rho=run.sam_rho, masked=masked,
                                      device=device, precision=precision)
            loss_sum += losses.detach().float()
            n_batches += 1
            step += 1
            beat()
        epoch += 1
        mean_losses = (loss_sum / max(n_batches, 1)).tolist()  # the one host sync per epoch
        for result, loss in zip(results, mean_losses, strict=True):
            if not result.diverged:
                result.epoch_losses.append(loss)
                result.diverged = not np.isfinite(loss)
        if all(r.diverged for r in results):
            break
        if epoch in snapshot_epochs:
            results[0].snapshots[epoch] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, mean_losses)
    seconds = time.perf_counter() - started
    for result in results:
        result.steps, result.seconds = step - first_step, seconds / copies
    if copies == 1:
        results[0].optimizer_state = _to_cpu(optimizer.state_dict())
    return results


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


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
                     *, copies: int, sam_rho: float, masked: list, device: torch.device,
                     precision: str) -> torch.Tensor:
    # One optimizer step; returns the loss of each copy, shape (copies,).
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, precision):
        loss, losses = _loss(model, batch, copies)
    loss.backward()
    _apply_masks(masked, grads=True)
    if sam_rho > 0:
        _sam_second_pass(model, batch, copies=copies, rho=sam_rho, device=device, precision=precision)
        _apply_masks(masked, grads=True)
    optimizer.step()
    _apply_masks(masked, grads=False)
    return losses


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], copies: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Cross-entropy (nats): the sum over copies of each copy's batch mean, and the per-copy means.
    x, y = batch
    logits = model(x)
    if copies == 1:
        loss = F.cross_entropy(logits, y)
        return loss, loss.view(1)
    per_copy = F.cross_entropy(logits.view(x.shape[0], copies, -1).transpose(1, 2), y, reduction="none").mean(0)
    return per_copy.sum(), per_copy


def _sam_second_pass(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, copies: int, rho: float,
                     device: torch.device, precision: str) -> None:
    # Standard SAM (Foret et al. 2021): climb to w + rho * g / (||g|| + 1e-12) with the gradient
    # norm over all parameters (of each copy, when stacked), take the gradient there, come back
    # to w. The optimizer then steps with it.
    params = [p for p in model.parameters() if p.grad is not None]
    grads = [p.grad for p in params]
    if copies == 1:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        eps = torch._foreach_mul(grads, rho / (norm + 1e-12))
    else:  # every stacked tensor holds copy k in block k of its leading dimension
        norms = torch.stack([g.reshape(copies, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
        scale = rho / (norms + 1e-12)
        eps = [g * scale.repeat_interleave(g.shape[0] // copies).view(-1, *[1] * (g.dim() - 1)) for g in grads]
    with torch.no_grad():
        torch._foreach_add_(params, eps)
    for p in params:
        p.grad = None
    with bn_momentum(model, 0.0), autocast(device, precision):  # BN statistics from the first pass only
        loss, _ = _loss(model, batch, copies)
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


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> Evaluation:
    """Return accuracy and loss of `model` in eval mode on (`x`, `y`), unaugmented, in float32."""
    return evaluate_stacked(model, x, y, copies=1, batch_size=batch_size)[0]


@torch.inference_mode()
def evaluate_stacked(stacked: nn.Module, x: torch.Tensor, y: torch.Tensor, *, copies: int,
                     batch_size: int = 1024) -> list[Evaluation]:
    """Return each stacked copy's accuracy and loss on the same (`x`, `y`), eval mode, float32.

    With `copies` 1 `stacked` may be any model (this is `evaluate`).

    Every copy sees every example; `batch_size` counts examples, so a pass holds `copies` times
    the activations of `evaluate` at the same batch size.
    """
    correct = torch.zeros(copies, device=x.device, dtype=torch.int64)
    loss_sum = torch.zeros(copies, device=x.device)
    with training_mode(stacked, False), full_precision(x.device):
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            logits = stacked(repeat_input(xb, copies)).view(xb.shape[0], copies, -1).float()
            labels = yb.view(-1, 1).expand(-1, copies)
            loss_sum += F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").sum(0)
            correct += (logits.argmax(2) == labels).sum(0)
            beat()
    n = x.shape[0]
    return [Evaluation(c / n, loss / n) for c, loss in zip(correct.tolist(), loss_sum.tolist(), strict=True)]


def data_steps_per_epoch(data: Dataset, batch_size: int, drop_last: bool) -> int:
    """Return optimizer steps per epoch of `data`'s training split."""
    return steps_per_epoch(data.x_train.shape[0], batch_size, drop_last)
