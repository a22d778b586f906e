"""Pruned models beyond test accuracy (Liebenwein et al., "Lost in Pruning", MLSys 2021).

A pruned model that matches the dense model's test accuracy can still disagree with it on many
inputs and lose more under noise. Per cell the trial measures, for every retrained copy:
- agreement with the dense model: the fraction of test inputs on which both predict the same class;
- test accuracy under additive Gaussian noise, x + level * s * z with s the training split's
  per-feature standard deviation and z ~ N(0, 1), at each of `metrics.noise_levels`;
- for images (N, C, H, W), three common corruptions at one fixed severity, applied to the
  normalised inputs: contrast (each image's deviation from its own per-channel mean scaled by
  0.4), brightness (plus 0.5 of the training split's per-channel std) and blur (a 5x5 Gaussian,
  sigma 1 pixel, reflect padding). They are linear in the pixels, so applied after the per-channel
  normalisation they equal the corruption of the raw image (without the raw image's clipping to
  its range).
The perturbed test sets are drawn once per trial from a fixed seed, so every model of a study is
scored on the same inputs. Pure functions; forward passes in float32 and eval mode.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainables.run.runtime import full_precision, training_mode

CORRUPTIONS = ("contrast", "brightness", "blur")
CONTRAST_FACTOR = 0.4
BRIGHTNESS_STDS = 0.5
BLUR_SIGMA_PX = 1.0
NOISE_SEED = 20_210_405  # the perturbed test sets are the same for every trial and model


def set_names(noise_levels: list[float], *, image: bool) -> list[str]:
    """Return the names of the perturbed test sets: noise{level:g} per level, then the corruptions for images."""
    return [f"noise{level:g}" for level in noise_levels] + (list(CORRUPTIONS) if image else [])


def robust_keys(noise_levels: list[float], *, image: bool) -> list[str]:
    """Return the row keys the perturbed accuracies are reported under, the copies' then the dense model's."""
    names = set_names(noise_levels, image=image)
    return [f"test_acc_{n}" for n in names] + [f"dense_test_acc_{n}" for n in names]


def perturbed_test_sets(x_train: torch.Tensor, x_test: torch.Tensor,
                        noise_levels: list[float]) -> dict[str, torch.Tensor]:
    """Return {name: perturbed copy of x_test} for every noise level and, for image batches, every corruption."""
    feature_std = x_train.float().std(0, keepdim=True)
    generator = torch.Generator().manual_seed(NOISE_SEED)
    z = torch.randn(x_test.shape, generator=generator).to(device=x_test.device, dtype=x_test.dtype)
    sets = {f"noise{level:g}": x_test + level * feature_std.to(x_test.dtype) * z for level in noise_levels}
    if x_test.dim() == 4:
        channel_std = x_train.float().std(dim=(0, 2, 3)).view(1, -1, 1, 1).to(x_test.dtype)
        own_mean = x_test.mean(dim=(2, 3), keepdim=True)
        sets["contrast"] = own_mean + CONTRAST_FACTOR * (x_test - own_mean)
        sets["brightness"] = x_test + BRIGHTNESS_STDS * channel_std
        sets["blur"] = gaussian_blur(x_test, sigma_px=BLUR_SIGMA_PX)
    return {name: x.contiguous(memory_format=torch.channels_last) if x_test.dim() == 4 and
            x_test.is_contiguous(memory_format=torch.channels_last) else x for name, x in sets.items()}


def gaussian_blur(x: torch.Tensor, *, sigma_px: float, size: int = 5) -> torch.Tensor:
    """Return images `x` (N, C, H, W) blurred channel by channel with a size x size Gaussian, reflect padding."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel_1d = torch.exp(-offsets ** 2 / (2 * sigma_px ** 2))
    kernel_1d = (kernel_1d / kernel_1d.sum()).to(device=x.device, dtype=x.dtype)
    channels = x.shape[1]
    kernel = (kernel_1d.view(-1, 1) * kernel_1d.view(1, -1)).expand(channels, 1, size, size)
    pad = size // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernel, groups=channels)


@torch.inference_mode()
def predictions(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
    """Return the class `model` predicts for each row of `x` (eval mode, float32), int64 on x's device."""
    with training_mode(model, False), full_precision(x.device):
        return torch.cat([model(x[s:s + batch_size]).float().argmax(1) for s in range(0, x.shape[0], batch_size)])


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Return the fraction of positions where predictions `a` and `b` are equal, 0-1."""
    if a.shape != b.shape:
        raise ValueError(f"agreement needs predictions on the same inputs: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a == b).float().mean()) if a.numel() else math.nan


def perturbed_accuracies(model: nn.Module, sets: dict[str, torch.Tensor], y: torch.Tensor, *,
                         batch_size: int = 1024) -> dict[str, float]:
    """Return {name: test accuracy (0-1) of `model` on that perturbed test set}."""
    return {name: float((predictions(model, x, batch_size=batch_size) == y).float().mean())
            for name, x in sets.items()}
