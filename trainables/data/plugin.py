"""Datasets from installed packages, found by entry point (`contract.names` says how to register one)."""

from __future__ import annotations

from contract.names import DATASET_GROUP, PluginError, find_plugin
from trainables.data.dataset import Dataset


def load_plugin_dataset(name: str, *, root: str | None) -> Dataset:
    """Return the Dataset that plug-in `name`'s loader builds from `root`.

    Raises:
        PluginError: no installed package registers `name`, or its loader returned something else.
    """
    data = find_plugin(DATASET_GROUP, name).load()(root=root)
    if not isinstance(data, Dataset):
        raise PluginError(f"dataset plug-in {name!r} returned {type(data).__name__}, not trainables.data.Dataset")
    return data
