"""Datasets by name: the loader and the driver's cheap check for each kind of name.

A name is a built-in dataset (`contract.names.DATASETS`: generated in memory, CIFAR's pickles, or
the user's own npz / image folder), `torchvision/<Class>`, or `package/name`, an installed
plug-in (`trainables.data.plugin`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from contract.names import DATASETS, FILE_DATASETS
from trainables.data.builtin import CIFAR_FOLDERS, GENERATED, check_cifar_files, load_cifar
from trainables.data.dataset import Dataset, DatasetError
from trainables.data.idx import IDX_CLASSES, IDX_FILES, idx_path, read_idx
from trainables.data.files import (
    check_imagefolder,
    check_npz,
    check_torchvision,
    load_imagefolder,
    load_npz,
    load_torchvision,
)
from trainables.data.plugin import load_plugin_dataset


def load_dataset(name: str, root: str | Path | None = None, *, device: torch.device | str = "cpu",
                 download: bool = False, image_size: int | None = None) -> Dataset:
    """Return dataset `name` as normalised tensors on `device`.

    Args:
        name: one of DATASETS, torchvision/<Class>, or package/name.
        root: folder holding the CIFAR files or the image folder, or the .npz file (ignored by
            the generated datasets).
        device: where the tensors live for the whole trial.
        download: let torchvision fetch CIFAR into `root` (needs network access).
        image_size: the square size, in pixels, imagefolder images are resized to.

    Raises:
        DatasetError: unknown name, or files missing or malformed under `root`.
    """
    resolved = str(Path(root).resolve()) if root else None
    if name.startswith("torchvision/"):
        return load_torchvision(name, resolved, download).to(device)
    if "/" in name:
        return load_plugin_dataset(name, root=resolved).to(device)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    if name in FILE_DATASETS:
        data = load_npz(resolved) if name == "npz" else load_imagefolder(resolved, image_size)
    elif name in CIFAR_FOLDERS:
        data = load_cifar(name, resolved, download)
    else:
        data = GENERATED[name]()
    return data.to(device)


def check_dataset_files(name: str, root: str | Path | None, *, download: bool = False,
                        image_size: int | None = None) -> None:
    """Raise DatasetError unless dataset `name` can be read from `root`; cheap, for the driver.

    Generated datasets and plug-ins always pass (a plug-in checks its own files when it loads
    them); CIFAR, the user's files and torchvision datasets are checked by their own `check_*`.

    Raises:
        DatasetError: one line naming the folder or file and what is missing.
    """
    if name.startswith("torchvision/"):
        check_torchvision(name, root, download=download)
    elif "/" in name:
        return
    elif name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    elif name == "npz":
        check_npz(root)
    elif name == "imagefolder":
        check_imagefolder(root, image_size)
    elif name in CIFAR_FOLDERS:
        check_cifar_files(name, root, download=download)


def training_labels(name: str, root: str | Path | None) -> tuple[torch.Tensor, int] | None:
    """Return (training labels, number of classes) where that is cheap to know before a trial runs, else None.

    The generated datasets are made (cached for the trial's process); an npz file and MNIST's IDX
    labels file are read for the training labels only. Other datasets (CIFAR, image folders, other
    torchvision datasets, plug-ins) are left to the trial, which raises the same one-line error.
    """
    if name in GENERATED:
        data = GENERATED[name]()
        return data.y_train, data.num_classes
    cls = name.split("/", 1)[1] if name.startswith("torchvision/") else None
    file = idx_path(root, cls, IDX_FILES["train"][1]) if cls in IDX_CLASSES and root is not None else None
    if file is not None:
        labels = torch.from_numpy(read_idx(file).astype(np.int64))
        return labels, int(labels.max()) + 1
    if name == "npz" and root is not None:
        with np.load(root) as arrays:
            labels = torch.as_tensor(np.asarray(arrays["y_train"]).astype(np.int64))
        return labels, int(labels.max()) + 1
    return None
