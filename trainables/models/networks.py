"""The built-in networks: PreResNet (the paper's), VGG with BatchNorm, a 1-D CNN for mnist1d, an MLP."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainables.models.width import scaled

_VGG_CFG = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512),
}


class GlobalAvgPool(nn.Module):
    """Mean over the spatial dimensions, (B, C, H, W) -> (B, C).

    nn.AdaptiveAvgPool2d(1) computes the same, but its CUDA backward has no deterministic kernel
    (it raises under torch.use_deterministic_algorithms); a mean's backward is a broadcast.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the per-channel mean of `x` over its height and width."""
        return x.mean(dim=(2, 3))


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a shortcut.

    As in the paper's code, the strided 1x1 projection (first block of stages 2 and 3) is applied
    to the block's raw input x, not to relu(bn1(x)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output."""
        residual = x if self.shortcut is None else self.shortcut(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + residual


class PreResNet(nn.Module):
    """PreResNet for 32x32 images as in the paper's code (DESIGN.md 2.1)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, width: float = 1, *, in_channels: int = 3):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"preresnet depth must be 6n+2 (20, 32, 56, ...), got {depth}")
        blocks = (depth - 2) // 6
        widths = (scaled(16, width), scaled(32, width), scaled(64, width))
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        layers, channels = [], widths[0]
        for stage, out_channels in enumerate(widths):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(PreActBlock(channels, out_channels, stride))
                channels = out_channels
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = GlobalAvgPool()
        self.fc = nn.Linear(channels, num_classes)
        _init_paper(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits, shape (B, num_classes)."""
        out = self.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


def _init_paper(model: nn.Module) -> None:
    # The paper's init: conv weights N(0, sqrt(2 / (k*k*out_channels))), BN weight 1 and bias 0.
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            fan_out = math.prod(module.kernel_size) * module.out_channels
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def preresnet(depth: int = 20, num_classes: int = 10, width: float = 1) -> PreResNet:
    """Return a PreResNet; depth 20, width 1 has 21 conv layers with 270,256 weights."""
    return PreResNet(depth, num_classes, width)


def vgg(depth: int = 16, num_classes: int = 10, width: float = 1) -> nn.Module:
    """Return a VGG-BN for 32x32 images (depth 11 or 16), channels scaled by `width`."""
    if depth not in _VGG_CFG:
        raise ValueError(f"vgg depth must be one of {sorted(_VGG_CFG)}, got {depth}")
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG_CFG[depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        out = scaled(int(item), width)
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU(inplace=True)]
        channels = out
    layers += [GlobalAvgPool(), nn.Flatten(), nn.Linear(channels, num_classes)]  # indices as before: same keys
    model = nn.Sequential(*layers)
    _init_paper(model)
    return model


def cnn1d(num_classes: int = 10, width: float = 1, *, in_channels: int = 1, length: int = 40) -> nn.Module:
    """Return the small 1-D CNN of the mnist1d demo: 3 x (conv k5 + BN + ReLU) at 32*width channels, then linear."""
    channels = scaled(32, width)
    layers: list[nn.Module] = []
    for i in range(3):
        layers += [nn.Conv1d(in_channels if i == 0 else channels, channels, 5, padding=2, bias=False),
                   nn.BatchNorm1d(channels), nn.ReLU(inplace=True)]
    layers += [nn.Flatten(), nn.Linear(channels * length, num_classes)]
    model = nn.Sequential(*layers)
    _init_paper(model)
    return model


def mlp(num_classes: int = 10, width: float = 1, in_features: int = 40) -> nn.Module:
    """Return a two-hidden-layer MLP (256*width units each) with BatchNorm."""
    hidden = scaled(256, width)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )
