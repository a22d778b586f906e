"""Datasets as device-resident tensors, and batched augmentation.

Every dataset is loaded once into normalised float tensors on the trial's device. Batches are
slices of a per-epoch permutation and augmentation is whole-batch tensor ops, so the training
loop never touches per-sample Python or DataLoader workers (DESIGN.md section 4, lever 1).
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

DATASETS = ("mnist1d", "digits", "cifar10", "cifar100", "synthetic", "npz", "imagefolder")
FILE_DATASETS = ("npz", "imagefolder")  # the user's own files: trainables/files.py
AUGMENTATIONS = ("none", "crop_flip", "shift")

# DESIGN.md 2.1: the paper's CIFAR normalisation (used for CIFAR-100 too, as its code does).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


class DatasetError(ValueError):
    """A dataset cannot be loaded; the message names what is missing and how to get it."""


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors on one device, already normalised.

    Attributes:
        x_train: float inputs, shape (N, C, H, W) for images or (N, C, L) for signals.
        y_train: int64 labels, shape (N,).
        x_test: float inputs of the test split.
        y_test: int64 labels of the test split.
        num_classes: number of classes.
        augmentation: the augmentation that suits the data: "crop_flip", "shift" or "none".
        pad_value: per channel, the normalised value of a black pixel: what "crop_flip" pads
            with, as the paper's code pads the raw image with black before normalising. None for
            data that is not padded.
        stats: (mean, std) per channel that standardised the user's own files (computed on
            their training split), None for the built-in datasets.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augmentation: str
    pad_value: tuple[float, ...] | None = None
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def to(self, device: torch.device | str) -> "Dataset":
        """Return this dataset with every tensor moved to `device`."""
        return Dataset(
            self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
            self.y_test.to(device), self.num_classes, self.augmentation, self.pad_value, self.stats,
        )


def load_dataset(name: str, root: str | Path | None = None, *, device: torch.device | str = "cpu",
                 download: bool = False, image_size: int | None = None) -> Dataset:
    """Return dataset `name` as normalised tensors on `device`.

    Args:
        name: one of DATASETS.
        root: folder holding the CIFAR files or the image folder, or the .npz file (ignored by
            the generated datasets).
        device: where the tensors live for the whole trial.
        download: let torchvision fetch CIFAR into `root` (needs network access).
        image_size: the square size, in pixels, imagefolder images are resized to.

    Raises:
        DatasetError: unknown name, or files missing or malformed under `root`.
    """
    if name.startswith("torchvision/"):
        from trainables import files

        return files.load_torchvision(name, str(Path(root).resolve()) if root else None, download).to(device)
    if "/" in name:
        from trainables.plugins import load_plugin_dataset

        return load_plugin_dataset(name, root=str(Path(root).resolve()) if root else None).to(device)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    if name in FILE_DATASETS:
        from trainables import files

        resolved = str(Path(root).resolve()) if root else None
        data = files.load_npz(resolved) if name == "npz" else files.load_imagefolder(resolved, image_size)
    elif name in CIFAR_FOLDERS:
        data = _load_cifar_cached(name, str(Path(root).resolve()) if root else None, download)
    else:
        data = _GENERATED[name]()
    return data.to(device)


@functools.lru_cache(maxsize=4)
def _load_mnist1d() -> Dataset:
    # Generated, not downloaded: the package's own generator with its default arguments
    # (5,000 signals of length 40, 80/20 split, seed 42). It seeds numpy's global RNG, so the
    # caller's numpy state is saved and restored around it.
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    as_x = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32).unsqueeze(1)  # noqa: E731
    as_y = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)  # noqa: E731
    return Dataset(as_x(raw["x"]), as_y(raw["y"]), as_x(raw["x_test"]), as_y(raw["y_test"]),
                   10, "shift")


@functools.lru_cache(maxsize=4)
def _load_digits() -> Dataset:
    # scikit-learn's bundled 8x8 digits (1,797 images): a fixed 80/20 split, standardised.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    split = int(0.8 * len(y))
    mean, std = x[:split].mean(), x[:split].std()
    x = (x - mean) / std
    return Dataset(x[:split], y[:split], x[split:], y[split:], 10, "none")


@functools.lru_cache(maxsize=4)
def _load_synthetic() -> Dataset:
    # A tiny learnable signal task for tests: 10 random class templates plus noise.
    gen = torch.Generator().manual_seed(1234)
    templates = torch.randn(10, 1, 32, generator=gen)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 10
        x = templates[y] + 0.8 * torch.randn(n, 1, 32, generator=gen)
        return x, y

    x_train, y_train = sample(512)
    x_test, y_test = sample(256)
    return Dataset(x_train, y_train, x_test, y_test, 10, "shift")


_GENERATED = {"mnist1d": _load_mnist1d, "digits": _load_digits, "synthetic": _load_synthetic}


class _LocalCIFAR:
    """Reads the CIFAR python pickles from a user-supplied folder.

    torchvision's CIFAR classes verify md5 sums of the official archive's files; user-supplied
    copies (re-pickled, trimmed, or test fixtures) fail that check with a misleading "not found
    or corrupted". We read the same file format without the checksum and say so here.
    """

    def __init__(self, name: str, root: Path):
        from torchvision.datasets import CIFAR10, CIFAR100

        cls = CIFAR10 if name == "cifar10" else CIFAR100
        self.folder = root / cls.base_folder
        self.train_files = [f for f, _ in cls.train_list]
        self.test_files = [f for f, _ in cls.test_list]
        self.label_key = "labels" if name == "cifar10" else "fine_labels"

    def read(self, files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for file in files:
            with open(self.folder / file, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(entry[self.label_key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)


def check_dataset_files(name: str, root: str | Path | None, *, download: bool = False,
                        image_size: int | None = None) -> None:
    """Raise DatasetError unless dataset `name` can be read from `root`; cheap, for the driver.

    Generated datasets always pass. For CIFAR, every batch file must be present and readable
    under `root/cifar-10-batches-py/` (or `cifar-100-python/`); with `download` the files are
    fetched by the trial, so only `root` must be set.

    Raises:
        DatasetError: one line naming the folder and the first missing or unreadable file.
    """
    if name.startswith("torchvision/"):
        from trainables import files

        files.check_torchvision(name, root, download=download)
        return
    if "/" in name:  # a plug-in checks its own files when it loads them
        return
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    if name in FILE_DATASETS:
        from trainables import files

        if name == "npz":
            files.check_npz(root)
        else:
            files.check_imagefolder(root, image_size)
        return
    if name not in CIFAR_FOLDERS:
        return
    if root is None:
        raise DatasetError(f"{name} needs data.root: set it to the folder that holds "
                           f"{CIFAR_FOLDERS[name]}/ (get it from {CIFAR_URL})")
    if download:
        return
    reader = _LocalCIFAR(name, Path(root))
    files = reader.train_files + reader.test_files
    bad = [f for f in files if not _readable(reader.folder / f)]
    if bad:
        more = f" (and {len(bad) - 1} more of its {len(files)} files)" if len(bad) > 1 else ""
        raise DatasetError(
            f"{name}: {reader.folder} has no readable {bad[0]}{more}; download the CIFAR python version from "
            f"{CIFAR_URL} and extract it under {root}, or set data.download: true on a machine with network access")


def _readable(file: Path) -> bool:
    try:
        with open(file, "rb") as fh:
            return len(fh.read(1)) == 1
    except OSError:
        return False


@functools.lru_cache(maxsize=2)
def _load_cifar_cached(name: str, root: str | None, download: bool) -> Dataset:
    check_dataset_files(name, root, download=download)
    root_path = Path(root)
    if download:
        from torchvision.datasets import CIFAR10, CIFAR100

        cls = CIFAR10 if name == "cifar10" else CIFAR100
        for train in (True, False):  # verified download of the official archive
            cls(str(root_path), train=train, download=True)
    reader = _LocalCIFAR(name, root_path)
    x_train, y_train = reader.read(reader.train_files)
    x_test, y_test = reader.read(reader.test_files)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    as_x = lambda a: (torch.from_numpy(a).float() / 255.0 - mean) / std  # noqa: E731
    black = tuple((0.0 - m) / sd for m, sd in zip(CIFAR_MEAN, CIFAR_STD, strict=True))
    return Dataset(as_x(x_train), torch.from_numpy(y_train), as_x(x_test), torch.from_numpy(y_test),
                   10 if name == "cifar10" else 100, "crop_flip", black)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator, *,
                  pad_value: tuple[float, ...] | None = None) -> torch.Tensor:
    """Return an augmented copy of batch `x`; random draws come from `generator`.

    Args:
        x: a batch on the generator's device, (B, C, H, W) or (B, C, L).
        kind: "crop_flip" (random HxW crop of the image padded by 4 pixels of `pad_value`, then a
            horizontal flip with probability 1/2), "shift" (circular shift of a signal by -4..4
            samples) or "none".
        generator: the torch.Generator that decides every random draw.
        pad_value: per channel, the value of the padding ("crop_flip"): the normalised black of
            the dataset (`Dataset.pad_value`); None pads with 0.
    """
    if kind == "none":
        return x
    batch = x.shape[0]
    if kind == "shift":
        length = x.shape[-1]
        shift = torch.randint(-4, 5, (batch, 1, 1), generator=generator, device=x.device)
        index = (torch.arange(length, device=x.device).view(1, 1, -1) - shift) % length
        return torch.gather(x, 2, index.expand_as(x))
    if kind == "crop_flip":
        pad, (h, w) = 4, x.shape[-2:]
        padded = F.pad(x, (pad, pad, pad, pad))
        if pad_value is not None:  # black in the raw image, i.e. (0 - mean) / std per channel
            border = torch.ones(x.shape[-2:], dtype=torch.bool, device=x.device)
            border = ~F.pad(border, (pad, pad, pad, pad), value=False)
            fill = torch.as_tensor(pad_value, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
            padded = torch.where(border, fill, padded)
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator, device=x.device)
        flip = torch.rand(batch, generator=generator, device=x.device) < 0.5
        rows = (dy.view(-1, 1) + torch.arange(h, device=x.device)).view(batch, 1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, -1)
        # A flipped image reads its columns right to left.
        cols = torch.where(flip.view(-1, 1), w - 1 - cols, cols) + dx.view(-1, 1)
        cols = cols.view(batch, 1, 1, w)
        channels = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        return padded[torch.arange(batch, device=x.device).view(-1, 1, 1, 1), channels, rows, cols]
    raise DatasetError(f"unknown augmentation {kind!r}; use one of {', '.join(AUGMENTATIONS)}")


def iterate_batches(x: torch.Tensor, y: torch.Tensor, *, batch_size: int, seed: int, epoch: int,
                    drop_last: bool, augmentation: str = "none",
                    pad_value: tuple[float, ...] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield the (inputs, labels) batches of one shuffled, augmented epoch.

    The order and augmentation of epoch `epoch` depend only on (`seed`, `epoch`), so a run stopped
    after any epoch and a longer run see the same batches up to that point.

    Args:
        x: all training inputs, on the training device.
        y: all training labels.
        batch_size: examples per batch.
        seed: the data seed (retraining copies differ only by this).
        epoch: the epoch index, 0-based.
        drop_last: skip the final partial batch.
        augmentation: passed to `augment_batch`.
        pad_value: passed to `augment_batch`.
    """
    order_gen = torch.Generator().manual_seed(_mix(seed, epoch))
    order = torch.randperm(x.shape[0], generator=order_gen).to(x.device)
    aug_gen = torch.Generator(device=x.device).manual_seed(_mix(seed, epoch) + 1)
    stop = steps_per_epoch(x.shape[0], batch_size, drop_last) * batch_size
    channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    for start in range(0, min(stop, x.shape[0]), batch_size):
        idx = order[start:start + batch_size]
        batch = augment_batch(x[idx], augmentation, aug_gen, pad_value=pad_value)
        # Keep the data's memory format: gathers return NCHW-contiguous tensors.
        yield (batch.contiguous(memory_format=torch.channels_last) if channels_last else batch), y[idx]


def steps_per_epoch(n_examples: int, batch_size: int, drop_last: bool) -> int:
    """Return the number of optimizer steps in one epoch over `n_examples`."""
    return n_examples // batch_size if drop_last else -(-n_examples // batch_size)


def _mix(seed: int, epoch: int) -> int:
    # Distinct 63-bit generator seeds per (seed, epoch); odd multiplier keeps them apart.
    return (seed * 1_000_003 + epoch * 7_919) % (2**63 - 1)
