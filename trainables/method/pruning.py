"""One-shot unstructured pruning: keep-masks at a density (fraction of weights kept, 0-1).

Prunable weights are the conv kernels and the weights of every linear layer but the last one
(the classifier, found as the model's last nn.Linear, whatever its name), which DESIGN.md 2.2
leaves dense; `include_fc=True` prunes it too, and `exclude` (fnmatch patterns over module
names, e.g. "stem.*") leaves chosen layers dense. Biases and BatchNorm parameters are never
pruned. Density is counted over the prunable weights only.
Ties in magnitude are broken by position (earlier layer, then lower flat index, is kept first),
and masks are computed on the CPU whatever the model's device, so the same weights give the same
masks on every device and every run.
"""

from __future__ import annotations

import copy
import fnmatch

import numpy as np
import torch
from torch import nn

from contract.config import PruningSection
from contract.names import PRUNING_METHODS
from trainables.method.spectra import layer_spectrum

Masks = dict[str, torch.Tensor]
# AlphaPruning's default epsilon (its main.py), from the one place it is set: the config.
ALPHA_EPS = PruningSection.model_fields["alpha_eps"].default


def prunable_weights(model: nn.Module, *, include_fc: bool = False, exclude: tuple[str, ...] = ()
                     ) -> dict[str, torch.Tensor]:
    """Return name -> weight tensor of the layers pruning acts on, in model order.

    Raises:
        ValueError: a pattern of `exclude` matches no conv or linear layer (a typo would
            otherwise prune what it meant to keep).
    """
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    classifier = linear[-1] if linear else None
    layers = [(name, module) for name, module in model.named_modules()
              if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    for pattern in exclude:
        if not any(fnmatch.fnmatchcase(name, pattern) for name, _ in layers):
            raise ValueError(f"pruning.exclude: {pattern!r} matches no conv or linear layer of this model; its "
                             f"layers are {', '.join(name for name, _ in layers)}")
    return {f"{name}.weight": module.weight for name, module in layers
            if (include_fc or name != classifier) and not any(fnmatch.fnmatchcase(name, p) for p in exclude)}


def pruned_layers(model: nn.Module, *, include_fc: bool = False, exclude: tuple[str, ...] = ()) -> str:
    """Return "name (Type shape) numel, ..." of the weights pruning acts on: what the report lists.

    The module's type and the weight's shape name a layer whose own name says nothing (the
    indices of an nn.Sequential): "0 (Conv1d 16x1x5) 80".
    """
    weights = prunable_weights(model, include_fc=include_fc, exclude=exclude)
    return ", ".join(f"{_layer_name(model, name)} {w.numel()}" for name, w in weights.items())


def _layer_name(model: nn.Module, weight_name: str) -> str:
    module_name = weight_name.removesuffix(".weight")
    kind = type(model.get_submodule(module_name)).__name__
    shape = "x".join(str(n) for n in model.get_parameter(weight_name).shape)
    return f"{module_name} ({kind} {shape})"


def magnitude_masks(model: nn.Module, density: float, method: str = "uniform", *, seed: int = 0,
                    include_fc: bool = False, exclude: tuple[str, ...] = (), alpha_eps: float = ALPHA_EPS) -> Masks:
    """Return boolean keep-masks (True = kept) keyed by parameter name, at `density` of the prunable weights.

    Args:
        model: the trained dense model.
        density: fraction of prunable weights to keep, in (0, 1].
        method: "uniform" (every layer keeps round(density * numel) of its largest |w|, at least
            one), "global" (one |w| threshold over all prunable layers), "lamp" (LAMP scores of Lee
            et al. 2021, each layer keeps at least its largest weight: at least one weight a layer
            even where density x weights is fewer), "alpha" (AlphaPruning's
            layer densities from each layer's heavy-tail exponent, `alpha_densities`, then the
            largest |w| in each layer) or "random" (per layer, the same counts as uniform, chosen
            by `seed`; a control).
        seed: seeds the "random" method only.
        alpha_eps: the "alpha" method's spread of layer sparsities around the target (0: uniform).
        include_fc: also prune the final linear layer.
        exclude: fnmatch patterns of module names left dense.

    Raises:
        ValueError: density outside (0, 1] or unknown method.
    """
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    # Scores, sorts and LAMP's cumulative sums on the CPU: the same masks from the same weights on
    # every device (CUDA's sort and float cumsum need not be deterministic).
    named = prunable_weights(model, include_fc=include_fc, exclude=exclude)
    weights = {name: w.detach().to("cpu") for name, w in named.items()}
    masks = _cpu_masks(weights, density, method, seed=seed, alpha_eps=alpha_eps)
    return {name: mask.to(named[name].device) for name, mask in masks.items()}


def _cpu_masks(weights: dict[str, torch.Tensor], density: float, method: str, *, seed: int,
               alpha_eps: float) -> Masks:
    if method in ("uniform", "alpha"):
        layer_density = dict.fromkeys(weights, density)
        if method == "alpha":
            alphas = [layer_spectrum(w)["alpha"] for w in weights.values()]
            layer_density = dict(zip(weights, alpha_densities(alphas, [w.numel() for w in weights.values()], density,
                                                              eps=alpha_eps), strict=True))
        return {name: _keep_top(w.abs().flatten(), _layer_count(layer_density[name], w.numel())).view_as(w)
                for name, w in weights.items()}
    if method == "random":
        gen = torch.Generator().manual_seed(seed)
        return {name: _keep_top(torch.rand(w.numel(), generator=gen),
                                _layer_count(density, w.numel())).view_as(w)
                for name, w in weights.items()}
    if method == "global":
        scores = {name: w.abs().flatten() for name, w in weights.items()}
    elif method == "lamp":
        scores = {name: lamp_scores(w).flatten() for name, w in weights.items()}
        for s in scores.values():
            s[torch.argmax(s)] = float("inf")  # guarantees each layer keeps its largest weight
    else:
        raise ValueError(f"unknown pruning method {method!r}; use one of {', '.join(PRUNING_METHODS)}")
    total = sum(w.numel() for w in weights.values())
    # LAMP's promise, a weight in every layer, needs as many weights as layers: below that count
    # (density x total < layers) it keeps one a layer, a density above the target.
    least = len(weights) if method == "lamp" else 1
    keep = _keep_top(torch.cat(list(scores.values())), max(least, round(density * total)))
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = keep[start:start + w.numel()].view_as(w)
        start += w.numel()
    return masks


def alpha_densities(alphas: list[float], numels: list[int], density: float, *, eps: float = ALPHA_EPS) -> list[float]:
    """Return per-layer densities by AlphaPruning's allocation (its `ww_sparsity`; DESIGN.md 7.2).

    Layer sparsities are alpha mapped linearly onto [(1 - eps) S, (1 + eps) S], S = 1 - density
    the target sparsity (the layer with the largest alpha, the least well trained, is pruned
    most), then scaled so that the weights pruned over all layers are S of them. A layer the
    scaling would prune entirely (or, at eps near 1, leave more than whole) is held at one weight
    kept (or every weight), and the others are scaled again to keep the total: every layer keeps
    at least one weight. eps 0, or equal alphas, gives every layer `density` (uniform). A NaN
    alpha (a layer too small to fit) is read as the layers' mean.
    """
    a = np.asarray(alphas, dtype=np.float64)
    n = np.asarray(numels, dtype=np.float64)
    a = np.where(np.isfinite(a), a, np.nanmean(a) if np.isfinite(a).any() else 0.0)
    spread = a.max() - a.min()
    shape = (1 - eps) + 2 * eps * ((a - a.min()) / spread if spread > 0 else np.full_like(a, 0.5))
    low, high = 1 / n, np.ones_like(n)  # densities: at least one weight, at most all
    target = density * n.sum()
    fixed = np.zeros(a.size, dtype=bool)
    dens = np.full_like(a, density)
    for _ in range(a.size + 1):  # each pass fixes at least one more layer at a bound, or ends
        free = ~fixed
        budget = target - (dens[fixed] * n[fixed]).sum()
        # the free layers' sparsities keep their shape: 1 - d = c * shape, with sum(d * n) = budget
        c = ((n[free]).sum() - budget) / (n[free] * shape[free]).sum()
        dens[free] = 1 - c * shape[free]
        out = free & ((dens < low) | (dens > high))
        if not out.any():
            break
        dens[out] = np.clip(dens[out], low[out], high[out])
        fixed |= out
    return [float(d) for d in np.clip(dens, low, high)]


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """Return LAMP scores w_u^2 / sum_{v >= u} w_v^2 (u in ascending w^2 order), shaped like `weight`."""
    sq = weight.detach().flatten().double() ** 2
    order = torch.argsort(sq, stable=True)
    sorted_sq = sq[order]
    suffix = torch.flip(torch.cumsum(torch.flip(sorted_sq, [0]), 0), [0])
    scores = torch.empty_like(sq)
    scores[order] = sorted_sq / suffix.clamp_min(torch.finfo(torch.float64).tiny)
    return scores.view_as(weight)


def density_of(masks: Masks) -> float:
    """Return the achieved density: kept weights / prunable weights, 0-1."""
    kept = sum(int(m.sum()) for m in masks.values())
    return kept / sum(m.numel() for m in masks.values())


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> nn.Module:
    """Zero the pruned weights of `model` in place and return it."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].dtype))
    return model


def _layer_count(density: float, numel: int) -> int:
    return max(1, round(density * numel))


def _keep_top(scores: torch.Tensor, k: int) -> torch.Tensor:
    # Stable descending sort: equal scores keep the earlier position, so masks are deterministic.
    order = torch.argsort(scores, descending=True, stable=True)
    keep = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    keep[order[:k]] = True
    return keep


def prune(model: nn.Module, *, density: float, method: str, seed: int = 0, include_fc: bool = False,
          exclude: tuple[str, ...] = (), alpha_eps: float = ALPHA_EPS) -> tuple[nn.Module, Masks]:
    """Return a pruned copy of `model` (masked weights zero) and its keep-masks; `model` is unchanged."""
    masks = magnitude_masks(model, density, method, seed=seed, include_fc=include_fc, exclude=exclude,
                            alpha_eps=alpha_eps)
    return apply_masks(copy.deepcopy(model), masks), masks
