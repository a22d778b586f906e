"""The dataset type, and batches with batched augmentation.

Every dataset is loaded once into normalised float tensors on the trial's device. Batches are
slices of a per-epoch permutation and augmentation is whole-batch tensor ops, so the training
loop never touches per-sample Python or DataLoader workers (DESIGN.md section 4, lever 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from contract.names import AUGMENTATIONS, DatasetError  # noqa: F401  (raised here, exported as before)


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors on one device, already normalised.

    Attributes:
        x_train: float inputs, shape (N, C, H, W) for images or (N, C, L) for signals.
        y_train: int64 labels, shape (N,).
        x_test: float inputs of the test split.
        y_test: int64 labels of the test split.
        num_classes: number of classes.
        augmentation: the augmentation that suits the data: "crop_flip", "shift" or "none".
        pad_value: per channel, the normalised value of a black pixel: what "crop_flip" pads
            with, as the paper's code pads the raw image with black before normalising. None for
            data that is not padded.
        stats: (mean, std) per channel that standardised the user's own files (computed on
            their training split), None for the built-in datasets.
        x_val: inputs held out of the training split for validation (`trainables.data.split`),
            None without a validation split.
        y_val: their labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augmentation: str
    pad_value: tuple[float, ...] | None = None
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    @property
    def has_validation(self) -> bool:
        """True when examples were held out of the training split for validation."""
        return self.x_val is not None and len(self.x_val) > 0

    def to(self, device: torch.device | str) -> "Dataset":
        """Return this dataset with every tensor moved to `device`; a tensor two splits share moves once."""
        return self.map_tensors(lambda t: t.to(device))

    def map_tensors(self, fn) -> "Dataset":
        """Return this dataset with `fn` applied to each split's tensors, once per distinct tensor.

        A split that is another split's tensor (a benchmark testing on its training data) stays
        shared, so moving it to a GPU does not hold it twice.
        """
        done: dict[int, torch.Tensor] = {}
        moved = {}
        for f in ("x_train", "y_train", "x_test", "y_test", "x_val", "y_val"):
            tensor = getattr(self, f)
            if tensor is None:
                continue
            if id(tensor) not in done:
                done[id(tensor)] = fn(tensor)
            moved[f] = done[id(tensor)]
        return dataclasses.replace(self, **moved)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator, *,
                  pad_value: tuple[float, ...] | None = None) -> torch.Tensor:
    """Return an augmented copy of batch `x`; random draws come from `generator`.

    Args:
        x: a batch on the generator's device, (B, C, H, W) or (B, C, L).
        kind: "crop_flip" (random HxW crop of the image padded by 4 pixels of `pad_value`, then a
            horizontal flip with probability 1/2), "shift" (circular shift of a signal by -4..4
            samples) or "none".
        generator: the torch.Generator that decides every random draw.
        pad_value: per channel, the value of the padding ("crop_flip"): the normalised black of
            the dataset (`Dataset.pad_value`); None pads with 0.
    """
    if kind == "none":
        return x
    batch = x.shape[0]
    if kind == "shift":
        length = x.shape[-1]
        shift = torch.randint(-4, 5, (batch, 1, 1), generator=generator, device=x.device)
        index = (torch.arange(length, device=x.device).view(1, 1, -1) - shift) % length
        return torch.gather(x, 2, index.expand_as(x))
    if kind == "crop_flip":
        pad, (h, w) = 4, x.shape[-2:]
        padded = F.pad(x, (pad, pad, pad, pad))
        if pad_value is not None:  # black in the raw image, i.e. (0 - mean) / std per channel
            border = torch.ones(x.shape[-2:], dtype=torch.bool, device=x.device)
            border = ~F.pad(border, (pad, pad, pad, pad), value=False)
            fill = torch.as_tensor(pad_value, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            padded = torch.where(border, fill, padded)
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=x.device)
        flip = torch.rand(batch, generator=generator, device=x.device) < 0.5
        rows = (dy.view(-1, 1) + torch.arange(h, device=x.device)).view(batch, 1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, -1)
        # A flipped image reads its columns right to left.
        cols = torch.where(flip.view(-1, 1), w - 1 - cols, cols) + dx.view(-1, 1)
        cols = cols.view(batch, 1, 1, w)
        channels = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        return padded[torch.arange(batch, device=x.device).view(-1, 1, 1, 1), channels, rows, cols]
    raise DatasetError(f"unknown augmentation {kind!r}; use one of {', '.join(AUGMENTATIONS)}")


def iterate_batches(x: torch.Tensor, y: torch.Tensor, *, batch_size: int, seed: int, epoch: int,
                    drop_last: bool, augmentation: str = "none",
                    pad_value: tuple[float, ...] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield the (inputs, labels) batches of one shuffled, augmented epoch.

    The order and augmentation of epoch `epoch` depend only on (`seed`, `epoch`), so a run stopped
    after any epoch and a longer run see the same batches up to that point.

    Args:
        x: all training inputs, on the training device.
        y: all training labels.
        batch_size: examples per batch.
        seed: the data seed (retraining copies differ only by this).
        epoch: the epoch index, 0-based.
        drop_last: skip the final partial batch.
        augmentation: passed to `augment_batch`.
        pad_value: passed to `augment_batch`.
    """
    order_gen = torch.Generator().manual_seed(_mix(seed, epoch))
    order = torch.randperm(x.shape[0], generator=order_gen).to(x.device)
    aug_gen = torch.Generator(device=x.device).manual_seed(_mix(seed, epoch) + 1)
    stop = steps_per_epoch(x.shape[0], batch_size, drop_last) * batch_size
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    for start in range(0, min(stop, x.shape[0]), batch_size):
        idx = order[start:start + batch_size]
        batch = augment_batch(x[idx], augmentation, aug_gen, pad_value=pad_value)
        # Keep the data's memory format: gathers return NCHW-contiguous tensors.
        yield (batch.contiguous(memory_format=torch.channels_last) if channels_last else batch), y[idx]


def steps_per_epoch(n_examples: int, batch_size: int, drop_last: bool) -> int:
    """Return the number of optimizer steps in one epoch over `n_examples`."""
    return n_examples // batch_size if drop_last else -(-n_examples // batch_size)


def _mix(seed: int, epoch: int) -> int:
    # Distinct 63-bit generator seeds per (seed, epoch); odd multiplier keeps them apart.
    return (seed * 1_000_003 + epoch * 7_919) % (2**63 - 1)


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the per-channel mean and std of `x` (N, C, ...), shaped to broadcast; a constant channel gets std 1."""
    dims = [0] + list(range(2, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True)
    return mean, torch.where(std > 1e-8, std, torch.ones_like(std))
