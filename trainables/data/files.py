"""Datasets from the user's own files: one .npz of arrays, a folder of images, or a torchvision dataset.

- `npz`: `data.root` is one `.npz` file holding `x_train, y_train, x_test, y_test`. Inputs are
  channels-first, (N, C, H, W) images or (N, C, L) signals; (N, F) feature vectors become
  (N, 1, F). Labels are integers 0..K-1 (K = the largest label + 1).
- `imagefolder`: torchvision's ImageFolder layout, `root/train/<class>/<image>` and
  `root/test/<class>/<image>` (or `root/val/...`); classes are the sorted folder names of the
  training split. Every image is decoded once, as RGB, and resized to `data.image_size` square
  pixels (bilinear, antialiased).
- `torchvision/<Class>`: a `torchvision.datasets` class (FashionMNIST, SVHN, KMNIST, ...) read
  from `data.root` in that class's own layout, its train and test splits (`train=` or
  `split=`), downloaded only with `data.download: true`. Images become float channels-first
  tensors (grey ones one channel). MNIST, FashionMNIST and KMNIST are read from their IDX files,
  raw or .gz, by `trainables.data.idx` (the same values as torchvision's, without a PIL image each).

Both are standardised per channel with the mean and std of the training split (recorded on the
Dataset) and get no augmentation: nothing is known of what suits them. The `check_*` functions
are the driver's cheap check: one line naming the file or folder and what is wrong.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainables.data.dataset import Dataset, DatasetError, channel_stats
from trainables.data.idx import IDX_CLASSES, missing_idx_files, read_idx_split, require_idx_files

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TEST_FOLDERS = ("test", "val")


def check_npz(path: str | Path | None) -> None:
    """Raise DatasetError unless `path` is an .npz file with the four arrays, consistent in shape and type."""
    arrays = _npz_arrays(path)
    x_train, y_train, x_test, y_test = (arrays[k] for k in NPZ_KEYS)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.ndim not in (2, 3, 4):
            raise DatasetError(f"npz: {path}: x_{split} has shape {x.shape}; expected (N, F), (N, C, L) or "
                               "(N, C, H, W), channels first")
        if y.ndim != 1 or len(y) != len(x):
            raise DatasetError(f"npz: {path}: y_{split} has shape {y.shape}; expected ({len(x)},), one label per "
                               f"row of x_{split}")
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DatasetError(f"npz: {path}: y_{split} must hold integer class labels 0..K-1 (got {y.dtype})")
        if not np.issubdtype(x.dtype, np.number):
            raise DatasetError(f"npz: {path}: x_{split} must be numeric (got {x.dtype})")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(f"npz: {path}: x_train examples have shape {x_train.shape[1:]} but x_test's have "
                           f"{x_test.shape[1:]}; they must match")


@functools.lru_cache(maxsize=2)
def load_npz(path: str) -> Dataset:
    """Return the arrays of the .npz file at `path` as a standardised Dataset (see the module docstring)."""
    check_npz(path)
    arrays = _npz_arrays(path)
    as_x = lambda a: torch.as_tensor(a, dtype=torch.float32).reshape(len(a), 1, -1) if a.ndim == 2 else \
        torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    x_train, x_test = as_x(arrays["x_train"]), as_x(arrays["x_test"])
    y_train = torch.as_tensor(arrays["y_train"], dtype=torch.int64)
    y_test = torch.as_tensor(arrays["y_test"], dtype=torch.int64)
    classes = int(max(y_train.max(), y_test.max())) + 1
    return _standardised(x_train, y_train, x_test=x_test, y_test=y_test, classes=classes)


def check_imagefolder(root: str | Path | None, image_size: int | None) -> None:
    """Raise DatasetError unless `root` holds train/ and test/ (or val/) class folders with images."""
    _image_lists(root, image_size)


@functools.lru_cache(maxsize=2)
def load_imagefolder(root: str, image_size: int) -> Dataset:
    """Return the images under `root` decoded at `image_size` pixels as a standardised Dataset."""
    classes, train, test = _image_lists(root, image_size)
    x_train, y_train = _decode(train, image_size)
    x_test, y_test = _decode(test, image_size)
    return _standardised(x_train, y_train, x_test=x_test, y_test=y_test, classes=len(classes))


def check_torchvision(name: str, root: str | Path | None, *, download: bool) -> None:
    """Raise DatasetError unless torchvision dataset `name` ("torchvision/<Class>") reads from `root`."""
    if root is None:
        raise DatasetError(f"{name} needs data.root: the folder torchvision keeps it in")
    if download:
        return
    cls = name.split("/", 1)[1]
    if cls in IDX_CLASSES:
        require_idx_files(root, cls)
        return
    for train in (True, False):
        _torchvision_split(name, root, train=train, download=False)


@functools.lru_cache(maxsize=2)
def load_torchvision(name: str, root: str, download: bool) -> Dataset:
    """Return torchvision dataset `name` ("torchvision/<Class>") from `root` as a standardised Dataset."""
    check_torchvision(name, root, download=download)
    cls = name.split("/", 1)[1]
    if cls in IDX_CLASSES:
        return _idx_dataset(name, root, download)
    splits = []
    for train in (True, False):
        dataset = _torchvision_split(name, root, train=train, download=download)
        images, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
        pixels = np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images])
        x = torch.from_numpy(pixels).unsqueeze(1) if pixels.ndim == 3 else torch.from_numpy(pixels).permute(0, 3, 1, 2)
        splits.append((x, torch.as_tensor(labels, dtype=torch.int64)))
    return _standardised_splits(splits)


def _idx_dataset(name: str, root: str, download: bool) -> Dataset:
    # MNIST and its kin from their IDX files, raw or .gz; torchvision fetches them when asked and absent.
    cls = name.split("/", 1)[1]
    if download and missing_idx_files(root, cls):
        for train in (True, False):
            _torchvision_split(name, root, train=train, download=True)
    splits = []
    for split in ("train", "test"):
        images, labels = read_idx_split(root, cls, split)
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        splits.append((x, torch.from_numpy(labels.astype(np.int64))))
    return _standardised_splits(splits)


def _standardised_splits(splits: list[tuple[torch.Tensor, torch.Tensor]]) -> Dataset:
    # [(x_train, y_train), (x_test, y_test)] of a torchvision dataset, classes = the largest label + 1.
    (x_train, y_train), (x_test, y_test) = splits
    classes = int(max(y_train.max(), y_test.max())) + 1
    return _standardised(x_train, y_train, x_test=x_test, y_test=y_test, classes=classes)


def _torchvision_split(name: str, root: str | Path, *, train: bool, download: bool):
    import inspect

    import torchvision.datasets

    cls = getattr(torchvision.datasets, name.split("/", 1)[1])
    params = inspect.signature(cls.__init__).parameters
    if "train" in params:
        split = {"train": train}
    elif "split" in params:
        split = {"split": "train" if train else "test"}
    else:
        raise DatasetError(f"{name}: has neither a train= nor a split= argument; save it as an npz file instead")
    try:
        return cls(str(root), download=download, **split)
    except (RuntimeError, OSError) as err:
        raise DatasetError(f"{name}: cannot read it from {root} ({str(err).splitlines()[0]}); put its files there "
                           "in torchvision's layout, or set data.download: true on a machine with network "
                           "access") from None


def _npz_arrays(path: str | Path | None) -> dict[str, np.ndarray]:
    if path is None:
        raise DatasetError("npz needs data.root: the path of one .npz file holding " + ", ".join(NPZ_KEYS))
    if not Path(path).is_file():
        raise DatasetError(f"npz: {path} is not a file; set data.root to the path of one .npz file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise DatasetError(f"npz: {path} has no {', '.join(missing)} (it holds {', '.join(archive.files)}); "
                                   f"save it with np.savez(path, {', '.join(f'{k}=...' for k in NPZ_KEYS)})")
            return {k: archive[k] for k in NPZ_KEYS}
    except (OSError, ValueError) as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"npz: {path} is not a readable .npz file ({err}); write it with np.savez") from None


def _image_lists(root: str | Path | None, image_size: int | None):
    if root is None:
        raise DatasetError("imagefolder needs data.root: the folder holding train/<class>/ and test/<class>/")
    if image_size is None:
        raise DatasetError("imagefolder needs data.image_size: the square size, in pixels, images are resized to")
    root = Path(root)
    train_dir = root / "train"
    test_dir = next((root / name for name in TEST_FOLDERS if (root / name).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DatasetError(f"imagefolder: {root} needs train/ and test/ (or val/) folders, each with one folder of "
                           "images per class")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DatasetError(f"imagefolder: {train_dir} has {len(classes)} class folders; a classifier needs 2 or more")
    unknown = sorted({p.name for p in test_dir.iterdir() if p.is_dir()} - set(classes))
    if unknown:
        raise DatasetError(f"imagefolder: {test_dir} has classes that train/ lacks: {', '.join(unknown)}")
    lists = []
    for split in (train_dir, test_dir):
        files = [(f, i) for i, c in enumerate(classes) if (split / c).is_dir()
                 for f in sorted((split / c).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise DatasetError(f"imagefolder: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {split}")
        lists.append(files)
    return classes, lists[0], lists[1]


def _decode(files: list[tuple[Path, int]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Pillow (torchvision's own dependency) decodes: torchvision.io's decoders are deprecated in 0.29.
    from PIL import Image, UnidentifiedImageError

    images = []
    for file, _ in files:
        try:
            with Image.open(file) as handle:
                pixels = np.asarray(handle.convert("RGB"), dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError) as err:
            raise DatasetError(f"imagefolder: cannot decode {file} ({err}); remove or replace it") from None
        image = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)
        if image.shape[-2:] != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        images.append(image)
    return torch.cat(images), torch.tensor([label for _, label in files], dtype=torch.int64)


def _standardised(x_train: torch.Tensor, y_train: torch.Tensor, *, x_test: torch.Tensor, y_test: torch.Tensor,
                  classes: int) -> Dataset:
    # Per channel, over the training split only (`trainables.data.split.restandardise` once part of
    # it is held out).
    mean, std = channel_stats(x_train)
    stats = (tuple(mean.flatten().tolist()), tuple(std.flatten().tolist()))
    return Dataset((x_train - mean) / std, y_train, (x_test - mean) / std, y_test, classes, "none", stats=stats)
