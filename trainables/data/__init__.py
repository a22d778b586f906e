"""Data, the first stage of a trial: datasets as device-resident tensors, batches, augmentation, projections.

`dataset` (the Dataset type, batches, augmentation) <- `builtin`, `files`, `plugin` (loaders) <-
`catalog` (by name); `dimension` projects a loaded dataset on its principal components. The
names below are the package's public API.
"""

from trainables.data.builtin import CIFAR_MEAN, CIFAR_STD
from trainables.data.catalog import check_dataset_files, load_dataset
from trainables.data.dataset import Dataset, DatasetError, augment_batch, iterate_batches, steps_per_epoch

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "Dataset", "DatasetError", "augment_batch", "check_dataset_files",
           "iterate_batches", "load_dataset", "steps_per_epoch"]
