"""The built-in names a config may use, and how a plug-in's name is found among installed packages.

One list per vocabulary: the config validates against these tuples and the loaders and builders
dispatch on them. Plug-ins (models and datasets from other installed packages) are found by
entry point, with importlib.metadata only: no torch, and no import strings in YAML.

A package registers factories under two entry-point groups (its pyproject.toml):

    [project.entry-points."three_regime.models"]
    mynet = "mypkg.models:make_mynet"   # make_mynet(*, input_shape, num_classes, **kwargs) -> nn.Module
    [project.entry-points."three_regime.datasets"]
    blobs = "mypkg.data:load_blobs"     # load_blobs(*, root) -> trainables.data.Dataset

and a config names them `model.name: mypkg/mynet`, `data.name: mypkg/blobs`: the top-level
package of the entry point's module, a slash, the entry point's name. Ray workers import the same
environment, so a package installed where the driver runs (and on every node) is found by the
trials too. `examples/plugin/` is a complete package.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Literal

# Ours, then the lottery-ticket family (trainables.models.lottery).
MODELS = ("preresnet", "vgg", "cnn1d", "mlp", "lenet300", "lenet5", "conv2", "conv4", "conv6")
DATASETS = ("cifar10", "cifar100", "mnist1d", "digits", "synthetic", "npz", "imagefolder")
FILE_DATASETS = ("npz", "imagefolder")  # the user's own files (trainables.data.files)
PRUNING_METHODS = ("uniform", "global", "lamp", "random", "alpha")
BN_STATS = ("paper", "exact")  # BatchNorm re-estimation at each LMC point (DESIGN.md 2.4)
AUGMENTATIONS = ("none", "crop_flip", "shift")
# The config's types for these fields, made from the tuples above.
PruningMethod = Literal[PRUNING_METHODS]  # type: ignore[valid-type]
BnStats = Literal[BN_STATS]  # type: ignore[valid-type]

MODEL_GROUP = "three_regime.models"
DATASET_GROUP = "three_regime.datasets"


class PluginError(ValueError):
    """A named plug-in is not installed, or returned the wrong type; the message says which."""


class DatasetError(ValueError):
    """A dataset cannot be loaded; the message names what is missing and how to get it.

    Here, torch-free, so that the command line can catch it without importing torch (`trainables.data`
    raises it and exports it under its old name).
    """


def registered(group: str) -> dict[str, EntryPoint]:
    """Return {"package/name": entry point} of every installed plug-in in `group`."""
    return {f"{ep.module.split('.')[0]}/{ep.name}": ep for ep in entry_points(group=group)}


def find_plugin(group: str, name: str) -> EntryPoint:
    """Return the entry point registered as `name` in `group`, or raise PluginError listing what is installed."""
    found = registered(group)
    if name not in found:
        kind = "model" if group == MODEL_GROUP else "dataset"
        have = ", ".join(sorted(found)) or "none"
        raise PluginError(f"no installed package registers the {kind} {name!r} (entry-point group {group}; "
                          f"installed: {have}); pip install the package that provides it")
    return found[name]
