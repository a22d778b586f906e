"""Where and how a trial computes: device choice, seeding, autocast, mode switches, memory figures.

Everything here is about the process and the device, not about the method: the engine and the
metrics call these helpers so that neither hard-codes a device, a dtype or a seed.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from typing import Iterator

import numpy as np
import torch
from torch import nn

from trainables.data.dataset import Dataset


def resolve_device(name: str = "auto", *, gpus: float | None = None) -> torch.device:
    """Return the torch device for `name`: "auto" picks CUDA when present, else CPU.

    Args:
        name: "auto", "cpu", "cuda" or "cuda:N".
        gpus: the GPUs Ray gave the trial (resources.gpu); None outside a trial. With 0, "auto"
            stays on the CPU even where torch sees cards: Ray 2.60 no longer hides them from a
            worker given none, and a trial on a card Ray did not give it would share it unseen.

    Raises:
        ValueError: "cuda" named where torch sees no CUDA device.
    """
    if name == "auto":
        if gpus is not None and gpus > 0 and not torch.cuda.is_available():
            warnings.warn(f"resources.gpu is {gpus:g} but torch sees no CUDA device here (a CPU build of torch, or "
                          "no driver): this trial runs on the CPU while holding the GPU; install a CUDA build of "
                          "torch on the GPU nodes, or set resources.gpu: 0", RuntimeWarning, stacklevel=2)
        wanted = torch.cuda.is_available() and (gpus is None or gpus > 0)
        return torch.device("cuda" if wanted else "cpu")
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
        data = data.map_tensors(lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t)
    return model, data


def reset_peak_memory(device: torch.device) -> None:
    """Start this trial's GPU memory peaks afresh: Tune reuses a worker for trial after trial."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Return this process's peak memory since `reset_peak_memory`, MiB.

    "peak_rss_mb": peak resident host memory of the process (its whole life: the OS keeps one
    peak); "gpu_peak_mb": peak CUDA memory held by tensors; "gpu_reserved_peak_mb": peak CUDA
    memory held by torch's caching allocator, which is what a card must have room for (size
    resources.gpu from it, docs/performance.md). NaN on the CPU.
    """
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    if device.type != "cuda":
        return {"peak_rss_mb": rss, "gpu_peak_mb": float("nan"), "gpu_reserved_peak_mb": float("nan")}
    return {"peak_rss_mb": rss, "gpu_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20,
            "gpu_reserved_peak_mb": torch.cuda.max_memory_reserved(device) / 2**20}


def synchronize(device: torch.device) -> None:
    """Wait for the kernels queued on `device` (CUDA runs them asynchronously), so a clock read after it is fair."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def use_deterministic(enabled: bool) -> None:
    """Make CUDA kernels deterministic (or allow the fastest) for this process; the CPU's already are.

    Deterministic: torch.use_deterministic_algorithms, cuDNN without autotuning, and cuBLAS's
    fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when cuBLAS starts).
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False


def bf16_training(device: torch.device, precision: str = "auto") -> bool:
    """Return whether training runs under bfloat16 autocast on `device` for resources.precision `precision`.

    "auto" uses bf16 only where the card computes it natively (compute capability 8.0, Ampere, or
    later): V100 and T4 report bf16 support through emulation, which is slower than float32.
    """
    if device.type != "cuda" or precision == "fp32":
        return False
    return precision == "bf16" or torch.cuda.get_device_capability(device)[0] >= 8


def autocast(device: torch.device, precision: str = "auto"):
    """Return a bfloat16 autocast context where `bf16_training` says so, else a no-op (training only).

    Metrics never use it: test accuracy, BatchNorm re-estimation, LMC and CKA run in float32 on
    every device (see `full_precision`).
    """
    if bf16_training(device, precision):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Context in which `device` computes in IEEE float32: no autocast, and no TF32 on CUDA.

    A caller's enclosing bf16 autocast would otherwise leak into evaluation; on untrained models
    it moved CKA by 6e-4 and flipped the sign of an mc (the fidelity issue). TF32 (10-bit
    mantissas in matmuls and cuDNN convolutions, torch's default for convolutions on Ampere and
    later) moved CKA by up to 1.3e-4 in a CPU emulation on demo cells. Both TF32 switches are
    turned off inside and restored on exit, whatever they were.
    """
    saved = _tf32_flags()
    _set_tf32_flags(("ieee", "ieee") if _new_tf32_api() else (False, False))
    try:
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        _set_tf32_flags(saved)


# torch 2.9 added per-backend fp32_precision ("ieee", "tf32", "none": inherit) beside the legacy
# allow_tf32 switches, and reading a legacy switch raises once both were used: use the new one
# where it exists.
def _new_tf32_api() -> bool:
    return hasattr(torch.backends.cudnn, "conv")


def _tf32_flags() -> tuple:
    # (cuBLAS matmuls, cuDNN convolutions): the two places float32 work may run in TF32.
    if _new_tf32_api():
        return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def _set_tf32_flags(flags: tuple) -> None:
    if _new_tf32_api():
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = flags
    else:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


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
