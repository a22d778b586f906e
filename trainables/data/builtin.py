"""The built-in datasets: mnist1d and scikit-learn's digits (generated, no files), a synthetic task, CIFAR.

mnist1d, digits and the synthetic task are made in memory; CIFAR-10/100 are read from the python
pickles under `data.root` (DESIGN.md 2.1 gives their normalisation), downloaded by torchvision
only with `data.download: true`.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import numpy as np
import torch

from trainables.data.dataset import Dataset, DatasetError

# DESIGN.md 2.1: the paper's CIFAR normalisation (used for CIFAR-100 too, as its code does).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


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


# The datasets made in memory, by name: each loader takes no arguments and is cached.
GENERATED = {"mnist1d": _load_mnist1d, "digits": _load_digits, "synthetic": _load_synthetic}


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


def check_cifar_files(name: str, root: str | Path | None, *, download: bool) -> None:
    """Raise DatasetError unless CIFAR `name` can be read from `root`; cheap, for the driver.

    Every batch file must be present and readable under `root/cifar-10-batches-py/` (or
    `cifar-100-python/`); with `download` the files are fetched by the trial, so only `root`
    must be set.

    Raises:
        DatasetError: one line naming the folder and the first missing or unreadable file.
    """
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
def load_cifar(name: str, root: str | None, download: bool) -> Dataset:
    """Return CIFAR `name` ("cifar10" or "cifar100") from the pickles under `root`, normalised (cached)."""
    check_cifar_files(name, root, download=download)
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

