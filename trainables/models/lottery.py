"""The lottery-ticket family: LeNet-300-100, LeNet-5 and Conv-2/4/6, where unstructured pruning is most studied.

- `lenet300`: LeNet-300-100 as in Frankle & Carbin 2019 ("The Lottery Ticket Hypothesis",
  Figure 2): fully connected 784-300-100-10 with ReLU, on flattened inputs (any input shape).
- `lenet5`: the Caffe LeNet-5 of Han et al. 2015 ("Learning both Weights and Connections"),
  which the pruning literature calls LeNet-5: conv 5x5 to 20, 2x2 max-pool, conv 5x5 to 50,
  2x2 max-pool, fully connected 500, then the classifier (431K parameters on 28x28 MNIST). LeCun
  et al.'s 1998 original (6-16 channels, tanh, subsampling layers) is not it.
- `conv2` / `conv4` / `conv6`: Frankle & Carbin's Conv-2/4/6 (their Figure 2): pairs of 3x3
  convolutions, same padding, at 64, 128 and 256 channels, each pair followed by 2x2
  max-pooling, then fully connected 256, 256 and the classifier, ReLU throughout.

Departures, stated: no dropout (Frankle & Carbin also trained Conv-2/4/6 with it in some
experiments); no BatchNorm, as in both papers (LMC's BatchNorm re-estimation then does nothing);
Glorot-normal weights and zero biases, the Gaussian Glorot init of Frankle & Carbin, for every
layer. A `width` multiplier scales every hidden width (channels and units), as for the other
families. The classifier is the last linear layer, so pruning leaves it dense by default, as for
every model (`pruning.include_fc`).
"""

from __future__ import annotations

import math

from torch import nn

from trainables.models.width import scaled

_CONV_STAGES = {"conv2": (64,), "conv4": (64, 128), "conv6": (64, 128, 256)}


def lenet300(num_classes: int = 10, width: float = 1, in_features: int = 784) -> nn.Sequential:
    """Return LeNet-300-100: in_features-300-100-num_classes (hidden units times `width`); 266,200 weights on MNIST."""
    hidden = (scaled(300, width), scaled(100, width))
    model = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden[0]), nn.ReLU(inplace=True),
                          nn.Linear(hidden[0], hidden[1]), nn.ReLU(inplace=True), nn.Linear(hidden[1], num_classes))
    _glorot(model)
    return model


def lenet5(num_classes: int = 10, width: float = 1, *,
           input_shape: tuple[int, int, int] = (1, 28, 28)) -> nn.Sequential:
    """Return Caffe's LeNet-5 (20 and 50 channels, 500 units, times `width`) for (C, H, W) inputs."""
    channels, height, breadth = input_shape
    c1, c2, units = scaled(20, width), scaled(50, width), scaled(500, width)
    side = (((height - 4) // 2) - 4) // 2, (((breadth - 4) // 2) - 4) // 2  # two valid 5x5 convs, two pools
    if min(side) < 1:
        raise ValueError(f"lenet5 needs images of at least 16 x 16 pixels, got {height} x {breadth}")
    model = nn.Sequential(nn.Conv2d(channels, c1, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                          nn.Conv2d(c1, c2, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(c2 * side[0] * side[1], units), nn.ReLU(inplace=True),
                          nn.Linear(units, num_classes))
    _glorot(model)
    return model


def conv_net(name: str, num_classes: int = 10, width: float = 1, *,
             input_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Sequential:
    """Return Frankle & Carbin's Conv-2, Conv-4 or Conv-6 (`name` "conv2", "conv4", "conv6") for (C, H, W) inputs."""
    stages = _CONV_STAGES[name]
    channels, height, breadth = input_shape
    layers: list[nn.Module] = []
    for out in stages:
        out = scaled(out, width)
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True),
                   nn.Conv2d(out, out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels, height, breadth = out, height // 2, breadth // 2
    if min(height, breadth) < 1:
        raise ValueError(f"{name} pools {len(stages)} times: it needs images of at least {2 ** len(stages)} pixels")
    hidden = scaled(256, width)
    layers += [nn.Flatten(), nn.Linear(channels * height * breadth, hidden), nn.ReLU(inplace=True),
               nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)]
    model = nn.Sequential(*layers)
    _glorot(model)
    return model


def build_lottery_model(name: str, *, input_shape: tuple[int, ...], num_classes: int, width: float) -> nn.Module:
    """Return lottery-ticket model `name` ("lenet300", "lenet5" or a key of Conv-2/4/6) for inputs of `input_shape`.

    Raises:
        ValueError: a convolutional model given inputs that are not (C, H, W) images.
    """
    if name == "lenet300":
        return lenet300(num_classes, width, in_features=math.prod(input_shape))
    if len(input_shape) != 3:  # every other member is convolutional
        raise ValueError(f"model {name!r} takes images (C, H, W), but the dataset gives shape {input_shape}")
    if name == "lenet5":
        return lenet5(num_classes, width, input_shape=tuple(input_shape))
    if name in _CONV_STAGES:
        return conv_net(name, num_classes, width, input_shape=tuple(input_shape))
    raise ValueError(f"{name!r} is not a lottery-ticket model")


def _glorot(model: nn.Module) -> None:
    # Frankle & Carbin's init: Gaussian Glorot weights, zero biases.
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)
