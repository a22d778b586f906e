"""The IDX format of MNIST and its kin, read directly, raw or gzip-compressed.

torchvision's MNIST, FashionMNIST and KMNIST keep their four IDX files in `root/<Class>/raw/`
(`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
`t10k-labels-idx1-ubyte`). torchvision reads only the uncompressed files and goes through one
PIL image per example; reading the arrays here takes either form (the `.gz` files as
distributed, or unpacked) and is one `np.frombuffer` per file. torchvision still does the
downloading when `data.download: true`.

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number
(two zero bytes, a type code, the number of dimensions), one big-endian uint32 per dimension,
then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from trainables.data.dataset import DatasetError

IDX_CLASSES = ("MNIST", "FashionMNIST", "KMNIST")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Return the array in IDX file `path` (raw, or gzip-compressed: told apart by its first bytes).

    Raises:
        DatasetError: not an IDX file, or its size disagrees with its header; names the file.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DatasetError(f"{path}: a damaged gzip file ({err}); download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES or not 1 <= raw[3] <= 4:
        raise DatasetError(f"{path}: not an IDX file (its magic number is {raw[:4].hex() or 'missing'}); "
                           "put MNIST's original files there, e.g. train-images-idx3-ubyte")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: the IDX header is cut short ({len(raw)} bytes); download it again")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(f"{path}: {len(raw)} bytes where its header {shape} needs {expected}; the file is "
                           "truncated or damaged, download it again")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def idx_path(root: str | Path, cls: str, stem: str) -> Path | None:
    """Return the file `stem` of torchvision class `cls` under `root` (unpacked first, else `.gz`), or None."""
    folder = Path(root) / cls / "raw"
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def missing_idx_files(root: str | Path, cls: str, stems: tuple[str, ...] | None = None) -> list[str]:
    """Return the IDX files of `cls` (`stems`, default all four) absent under `root/<cls>/raw/`, in neither form."""
    stems = stems or tuple(stem for pair in IDX_FILES.values() for stem in pair)
    return [stem for stem in stems if idx_path(root, cls, stem) is None]


def require_idx_files(root: str | Path, cls: str, stems: tuple[str, ...] | None = None) -> None:
    """Raise DatasetError naming the IDX files of `cls` (`stems`, default all four) absent under `root`."""
    missing = missing_idx_files(root, cls, stems)
    if missing:
        raise DatasetError(f"torchvision/{cls}: no {', '.join(missing)} (or .gz) in {Path(root) / cls / 'raw'}; "
                           "put the original IDX files there, or set data.download: true on a machine with "
                           "network access")


def read_idx_split(root: str | Path, cls: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images (N, H, W) uint8, labels (N,)) of `split` ("train" or "test") of `cls` under `root`.

    Raises:
        DatasetError: a file is absent, malformed, or images and labels disagree in number.
    """
    images_stem, labels_stem = IDX_FILES[split]
    require_idx_files(root, cls, IDX_FILES[split])
    images, labels = read_idx(idx_path(root, cls, images_stem)), read_idx(idx_path(root, cls, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"torchvision/{cls}: the {split} files hold images of shape {images.shape} and labels "
                           f"of shape {labels.shape}; expected (N, H, W) and (N,) with the same N")
    return images, labels
