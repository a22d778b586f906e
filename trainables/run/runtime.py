"""Where and how a trial computes: device choice, seeding, autocast, mode switches, memory figures.

Everything here is about the process and the device, not about the method: the engine and the
metrics call these helpers so that neither hard-codes a device, a dtype or a seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from typing import Iterator

import numpy as np
import torch
from torch import nn

from trainables.data.dataset import Dataset


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for `name`: "auto" picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but torch sees no CUDA device; use auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (model initialisation uses torch's)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare(model: nn.Module, data: Dataset, device: torch.device) -> tuple[nn.Module, Dataset]:
    """Return the model and data on `device`, channels_last for image data.

    channels_last pays on CUDA and on CPU alike: PreResNet-20 trains 513 -> 640 img/s on the
    2-core development CPU (batch 64).
    """
    model = model.to(device)
    data = data.to(device)
    if data.x_train.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        images = [f for f in ("x_train", "x_test", "x_val") if getattr(data, f) is not None]
        last = {f: getattr(data, f).contiguous(memory_format=torch.channels_last) for f in images}
        data = dataclasses.replace(data, **last)
    return model, data


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Return {"peak_rss_mb": this process's peak resident memory, "gpu_peak_mb": peak CUDA memory or NaN}, MiB."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return {"peak_rss_mb": rss, "gpu_peak_mb": gpu}


def autocast(device: torch.device):
    """Return a bfloat16 autocast context on CUDA, a no-op context on CPU (training only).

    Metrics never use it: test accuracy, BatchNorm re-estimation, LMC and CKA run in float32 on
    every device (see `full_precision`).
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def full_precision(device: torch.device):
    """Return a context in which no autocast is active on `device`: metrics are computed in float32.

    A caller's enclosing bf16 autocast would otherwise leak into evaluation; on untrained models
    it moved CKA by 6e-4 and flipped the sign of an mc (the fidelity issue).
    """
    return torch.autocast(device.type, enabled=False)


@contextlib.contextmanager
def training_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Context with `model` in train (True) or eval (False) mode, restoring its mode on exit."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def bn_momentum(model: nn.Module, momentum: float | None) -> Iterator[list[nn.Module]]:
    """Context in which every BatchNorm layer of `model` uses `momentum`; yields the layers.

    momentum 0 leaves running statistics unchanged (SAM's second pass); None makes them the
    cumulative average of the batches seen (BatchNorm re-estimation); 1 stores the last batch's.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = momentum
    try:
        yield norms
    finally:
        for m, value in zip(norms, saved, strict=True):
            m.momentum = value
