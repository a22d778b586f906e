"""K models of one architecture as one stacked model (DESIGN.md 6.1): the cost engine's building block.

The K retrained copies of a cell, or the points of an LMC line, share an architecture and differ
only in weights (and, for copies, in their batches). Stacked, they run as one model:

- a convolution C_in -> C_out (groups g) becomes K*C_in -> K*C_out with groups K*g: copy k reads
  input channels [k*C_in, (k+1)*C_in) and writes output channels [k*C_out, (k+1)*C_out);
- a BatchNorm over C channels becomes one over K*C: statistics stay per copy by construction;
- a linear layer becomes `StackedLinear`, a batched matmul over a K-leading weight;
- parameter-free layers (ReLU, pooling, Flatten, residual additions) act per channel or keep
  each copy's features contiguous, so they need no change.

Every stacked tensor holds copy k's values in block k of its leading dimension, so
`t.reshape(K, -1)[k]` is copy k's part (`unstack_state`). The inputs of the K copies are
concatenated along the channel dimension (`stack_inputs`); the outputs are (B, K * classes).
`torch.func.vmap` would also batch the copies, but in train mode it cannot keep per-copy
BatchNorm running statistics; this construction does.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


class StackedLinear(nn.Module):
    """K linear layers in one: input (B, K * in_features) -> output (B, K * out_features).

    Attributes:
        weight: (K, out_features, in_features).
        bias: (K, out_features) or None.
    """

    def __init__(self, copies: int, in_features: int, out_features: int, *, bias: bool):
        super().__init__()
        self.copies, self.in_features, self.out_features = copies, in_features, out_features
        self.weight = nn.Parameter(torch.empty(copies, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(copies, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return each copy's x_k W_k^T + b_k, concatenated along features."""
        out = torch.einsum("bki,koi->bko", x.reshape(x.shape[0], self.copies, self.in_features), self.weight)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(x.shape[0], self.copies * self.out_features)


def use_stacked(setting: bool | str, device: torch.device) -> bool:
    """Return whether a trial stacks its copies for resources.stacked `setting`: "auto" means on CUDA only.

    Stacking pays where one small model leaves the device idle (a GPU); on the 2-core development
    CPU it measured 0.96x-1.1x per demo cell (benchmarks/copies.py).
    """
    return device.type == "cuda" if setting == "auto" else bool(setting)


def unstackable_reason(model: nn.Module) -> str | None:
    """Return why `model` cannot be stacked (a layer with parameters of an unsupported type), or None."""
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if own and not isinstance(module, _CONVS + _NORMS + (nn.Linear,)):
            return f"layer {name or '(root)'} is a {type(module).__name__}, which has no stacked form"
    return None


def stack_models(template: nn.Module, states: list[dict[str, torch.Tensor]]) -> nn.Module:
    """Return one model that computes the K = len(states) models `template` with each state.

    Args:
        template: the architecture (its weights are not used); left unchanged.
        states: K state dicts of `template`'s architecture.

    Raises:
        ValueError: a layer type without a stacked form (see `unstackable_reason`).
    """
    reason = unstackable_reason(template)
    if reason is not None:
        raise ValueError(f"cannot stack this model: {reason}")
    copies = len(states)
    stacked = copy.deepcopy(template)
    for name, module in list(stacked.named_modules()):
        if isinstance(module, _CONVS + _NORMS + (nn.Linear,)):
            _replace(stacked, name, _stacked_layer(module, copies))
    first = next(template.parameters())
    stacked.to(device=first.device, dtype=first.dtype)  # the new layers were made in the default dtype
    channels_last = any(isinstance(m, nn.Conv2d) and m.weight.is_contiguous(memory_format=torch.channels_last)
                        and not m.weight.is_contiguous() for m in template.modules())
    if channels_last:
        stacked.to(memory_format=torch.channels_last)
    with torch.no_grad():
        for key, target in stacked.state_dict().items():
            values = [state[key] for state in states]
            if target.dim() == 0:  # num_batches_tracked: one counter for all copies
                target.copy_(values[0])
            else:
                target.copy_(torch.stack([v.to(target.device) for v in values]).reshape(target.shape))
    stacked.train(template.training)
    return stacked


def unstack_state(stacked: nn.Module, template: nn.Module, k: int) -> dict[str, torch.Tensor]:
    """Return copy k's state dict, in `template`'s shapes, from a model built by `stack_models`."""
    shapes = {key: value.shape for key, value in template.state_dict().items()}
    state = {}
    for key, value in stacked.state_dict().items():
        if value.dim() == 0:
            state[key] = value.clone()
        else:
            copies = value.numel() // shapes[key].numel()
            state[key] = value.detach().reshape(copies, *shapes[key])[k].clone()
    return state


def unstack_models(stacked: nn.Module, template: nn.Module, copies: int) -> list[nn.Module]:
    """Return the `copies` models held by `stacked`, each a copy of `template` with its weights."""
    models = []
    for k in range(copies):
        model = copy.deepcopy(template)
        model.load_state_dict(unstack_state(stacked, template, k))
        model.train(stacked.training)
        models.append(model)
    return models


def stack_masks(masks: dict[str, torch.Tensor], stacked: nn.Module) -> dict[str, torch.Tensor]:
    """Return `masks` (one model's) repeated for every copy, in the stacked parameters' shapes."""
    params = dict(stacked.named_parameters())
    out = {}
    for name, mask in masks.items():
        copies = params[name].numel() // mask.numel()
        out[name] = mask.unsqueeze(0).expand(copies, *mask.shape).reshape(params[name].shape)
    return out


def stack_inputs(batches: list[torch.Tensor]) -> torch.Tensor:
    """Return the K copies' input batches concatenated along channels: (B, K * C, ...)."""
    x = torch.cat(batches, dim=1)
    if x.dim() == 4 and batches[0].is_contiguous(memory_format=torch.channels_last) \
            and not batches[0].is_contiguous():
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def repeat_input(x: torch.Tensor, copies: int) -> torch.Tensor:
    """Return one batch fed to every copy: (B, C, ...) -> (B, copies * C, ...)."""
    return x if copies == 1 else stack_inputs([x] * copies)


def _stacked_layer(module: nn.Module, copies: int) -> nn.Module:
    if isinstance(module, _CONVS):
        return type(module)(copies * module.in_channels, copies * module.out_channels, module.kernel_size,
                            stride=module.stride, padding=module.padding, dilation=module.dilation,
                            groups=copies * module.groups, bias=module.bias is not None,
                            padding_mode=module.padding_mode)
    if isinstance(module, _NORMS):
        return type(module)(copies * module.num_features, eps=module.eps, momentum=module.momentum,
                            affine=module.affine, track_running_stats=module.track_running_stats)
    return StackedLinear(copies, module.in_features, module.out_features, bias=module.bias is not None)


def _replace(model: nn.Module, name: str, layer: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, layer)
