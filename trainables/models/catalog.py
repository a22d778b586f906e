"""Models by name: the built-in networks, the lottery-ticket family, torchvision's and timm's, installed plug-ins."""

from __future__ import annotations

import math

from torch import nn

from contract.names import MODEL_GROUP, MODELS, PluginError, find_plugin
from trainables.models.lottery import build_lottery_model
from trainables.models.networks import PreResNet, cnn1d, mlp, vgg


def build_model(name: str, *, input_shape: tuple[int, ...], num_classes: int, depth: int = 20,
                width: float = 1, kwargs: dict | None = None) -> nn.Module:
    """Return model `name` sized for inputs of `input_shape` (no batch dimension).

    Args:
        name: one of MODELS, "torchvision/<name>" (`torchvision.models.get_model(name,
            num_classes=num_classes, **kwargs)`, untrained), "timm/<name>" (`timm.create_model`,
            untrained), or "package/name", an installed plug-in (`contract.names`).
        kwargs: passed to a torchvision model or a plug-in's factory (ignored by ours).
        input_shape: (C, H, W) for images, (C, L) for signals.
        num_classes: outputs of the final layer.
        depth: PreResNet (6n+2) or VGG (11, 16) depth; ignored by the others.
        width: width multiplier of every hidden layer (below 1: a narrower proxy; `width.scaled`).

    Raises:
        ValueError: unknown name, impossible depth, or input shape the model cannot take.
    """
    if name.startswith("torchvision/"):
        from torchvision.models import get_model

        return get_model(name.split("/", 1)[1], num_classes=num_classes, **(kwargs or {}))
    if name.startswith("timm/"):
        import timm

        return timm.create_model(name.split("/", 1)[1], pretrained=False, num_classes=num_classes, **(kwargs or {}))
    if "/" in name:
        return build_plugin_model(name, input_shape=input_shape, num_classes=num_classes, kwargs=kwargs or {})
    if name == "preresnet":
        _require_shape(name, input_shape, 3)
        return PreResNet(depth, num_classes, width, in_channels=input_shape[0])
    if name == "vgg":
        _require_shape(name, input_shape, 3)
        return vgg(depth, num_classes, width)
    if name == "cnn1d":
        _require_shape(name, input_shape, 2)
        return cnn1d(num_classes, width, in_channels=input_shape[0], length=input_shape[1])
    if name == "mlp":
        return mlp(num_classes, width, in_features=math.prod(input_shape))
    if name in MODELS:  # the built-in names left are the lottery-ticket family
        return build_lottery_model(name, input_shape=input_shape, num_classes=num_classes, width=width)
    raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODELS)}")


def _require_shape(name: str, input_shape: tuple[int, ...], dims: int) -> None:
    if len(input_shape) != dims:
        kind = "images (C, H, W)" if dims == 3 else "signals (C, L)"
        raise ValueError(f"model {name!r} takes {kind}, but the dataset gives shape {input_shape}")


def build_plugin_model(name: str, *, input_shape: tuple[int, ...], num_classes: int, kwargs: dict) -> nn.Module:
    """Return the model of plug-in `name`, built by its factory with the data's shape and classes.

    Raises:
        PluginError: no installed package registers `name`, or its factory returned something else.
    """
    model = find_plugin(MODEL_GROUP, name).load()(input_shape=input_shape, num_classes=num_classes, **kwargs)
    if not isinstance(model, nn.Module):
        raise PluginError(f"model plug-in {name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model
