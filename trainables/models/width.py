"""The width multiplier: one layer's channels (or units) times `model.width`, below 1 for a narrower proxy."""

from __future__ import annotations

# The fewest channels or units of any hidden layer of each built-in model at width 1 (the
# classifier's outputs are the classes, not scaled): what decides the smallest width that means
# something. tests/trainables/models check it against the built networks.
SMALLEST_LAYER = {"preresnet": 16, "vgg": 64, "cnn1d": 32, "mlp": 256, "lenet300": 100, "lenet5": 20,
                  "conv2": 64, "conv4": 64, "conv6": 64}


def scaled(channels: int, width: float) -> int:
    """Return `channels * width` rounded half up, or raise ValueError where that leaves the layer with none.

    A width below 1 makes a narrower model (a proxy of the full-size one: docs/proxies.md); a width
    whose smallest layer rounds to no channel means nothing, and the config check refuses it by
    this message before any trial starts.
    """
    out = int(channels * width + 0.5)
    if out < 1:
        raise ValueError(f"a width of {width:g} leaves a layer of {channels} channels or units with none; use a "
                         f"width of at least {0.5 / channels:.3g}")
    return out


def check_width(model: str, width: float) -> None:
    """Raise ValueError, one line, where `width` leaves a hidden layer of built-in `model` without channels."""
    scaled(SMALLEST_LAYER[model], width)
