"""Models and datasets from installed packages, found by entry point: a config names only what is installed.

A package registers factories under two entry-point groups (its pyproject.toml):

    [project.entry-points."three_regime.models"]
    mynet = "mypkg.models:make_mynet"   # make_mynet(*, input_shape, num_classes, **kwargs) -> nn.Module
    [project.entry-points."three_regime.datasets"]
    blobs = "mypkg.data:load_blobs"     # load_blobs(*, root) -> trainables.data.Dataset

and a config names them `model.name: mypkg/mynet`, `data.name: mypkg/blobs`: the top-level
package of the entry point's module, a slash, the entry point's name. There are no import
strings in YAML, so a config cannot run arbitrary code, only what an installed package offers.
Ray workers import the same environment, so a package installed where the driver runs (and on
every node of a cluster) is found by the trials too. `examples/plugin/` is a complete package.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

MODEL_GROUP = "three_regime.models"
DATASET_GROUP = "three_regime.datasets"


class PluginError(ValueError):
    """A named plug-in is not installed, or returned the wrong type; the message says which."""


def registered(group: str) -> dict[str, EntryPoint]:
    """Return {"package/name": entry point} of every installed plug-in in `group`."""
    return {f"{ep.module.split('.')[0]}/{ep.name}": ep for ep in entry_points(group=group)}


def find(group: str, name: str) -> EntryPoint:
    """Return the entry point registered as `name` in `group`, or raise PluginError listing what is installed."""
    found = registered(group)
    if name not in found:
        kind = "model" if group == MODEL_GROUP else "dataset"
        have = ", ".join(sorted(found)) or "none"
        raise PluginError(f"no installed package registers the {kind} {name!r} (entry-point group {group}; "
                          f"installed: {have}); pip install the package that provides it")
    return found[name]


def build_plugin_model(name: str, *, input_shape: tuple[int, ...], num_classes: int, kwargs: dict):
    """Return the model of plug-in `name`, built by its factory with the data's shape and classes."""
    from torch import nn

    model = find(MODEL_GROUP, name).load()(input_shape=input_shape, num_classes=num_classes, **kwargs)
    if not isinstance(model, nn.Module):
        raise PluginError(f"model plug-in {name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_plugin_dataset(name: str, *, root: str | None):
    """Return the Dataset that plug-in `name`'s loader builds from `root`."""
    from trainables.data import Dataset

    data = find(DATASET_GROUP, name).load()(root=root)
    if not isinstance(data, Dataset):
        raise PluginError(f"dataset plug-in {name!r} returned {type(data).__name__}, not trainables.data.Dataset")
    return data
