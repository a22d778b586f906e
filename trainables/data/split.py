"""A validation split: examples held out of the training split, stratified by class, fixed by a seed.

The paper has none (it reports test accuracy only), so without one every answer that is not the
regime rule can only be read off the test set. With one, a study can answer "which temperature"
by validation accuracy and be scored on test accuracy, as a user would. Everything that used the
training split (dense training, retraining, BatchNorm re-estimation, LMC, CKA) uses what remains
of it; the held-out examples are only ever evaluated.

Per class c with n_c training examples, a fraction f holds out round(f x n_c) (ties to even); a count N is
shared out in proportion to the classes (largest remainders, so the total is exactly N). Which
examples go is a permutation per class drawn from `torch.Generator().manual_seed(seed)`; the
remaining training examples keep their order.

`data.train_subset` (a smaller training split, e.g. 10,000 of MNIST's 60,000 to fit a study in a
CPU budget) is drawn the same way, in proportion to the classes, by its own seed, before the
validation split is held out of it; the test split is always whole.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from trainables.data.dataset import Dataset, DatasetError, channel_stats


def validation_counts(labels: torch.Tensor, size: float, *, num_classes: int) -> list[int]:
    """Return how many examples of each class `size` holds out (a fraction in (0, 1) or a whole count).

    Raises:
        DatasetError: the split is not smaller than the training split, or leaves a class with no
            training example; one line saying what to write.
    """
    per_class = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    n = sum(per_class)
    if isinstance(size, float) and size < 1:
        counts = [round(size * c) for c in per_class]
    else:
        if int(size) >= n:
            raise DatasetError(f"data.validation: {int(size)} examples is not smaller than the training split ({n}); "
                               f"use fewer, or a fraction such as 0.1")
        counts = _proportional(per_class, int(size))
    emptied = [k for k, (c, v) in enumerate(zip(per_class, counts, strict=True)) if c > 0 and v >= c]
    if emptied:
        raise DatasetError(f"data.validation: {size:g} leaves class {emptied[0]} with no training example "
                           f"(it has {per_class[emptied[0]]}); use a smaller validation split")
    return counts


def subset_counts(labels: torch.Tensor, size: int, *, num_classes: int) -> list[int]:
    """Return how many examples of each class a training subset of `size` keeps (in proportion to the classes).

    Raises:
        DatasetError: `size` is larger than the training split; one line saying what to write.
    """
    per_class = torch.bincount(labels.cpu(), minlength=num_classes).tolist()
    if size > sum(per_class):
        raise DatasetError(f"data.train_subset: {size} examples is more than the training split "
                           f"({sum(per_class)}); use at most {sum(per_class)}, or leave it out for the whole split")
    return _proportional(per_class, size)


def subset_indices(labels: torch.Tensor, size: int, *, num_classes: int, seed: int) -> torch.Tensor:
    """Return the sorted indices, into `labels`, of the training subset of `size` that `seed` draws.

    Raises:
        DatasetError: as `subset_counts`.
    """
    return _pick(labels, subset_counts(labels, size, num_classes=num_classes), seed=seed)


def take_subset(data: Dataset, size: int, *, seed: int) -> Dataset:
    """Return `data` with only `size` of its training examples, stratified by class, chosen by `seed`.

    The test split is kept whole; a validation split is held out of what this keeps.

    Raises:
        DatasetError: as `subset_counts`.
    """
    kept = subset_indices(data.y_train, size, num_classes=data.num_classes, seed=seed).to(data.y_train.device)
    return dataclasses.replace(data, x_train=data.x_train[kept], y_train=data.y_train[kept])


def _proportional(per_class: list[int], total: int) -> list[int]:
    # `total` shared out in proportion to the classes, by largest remainders: the counts sum to exactly `total`.
    n = sum(per_class)
    shares = [total * c / n for c in per_class]
    counts = [math.floor(s) for s in shares]
    for k in sorted(range(len(per_class)), key=lambda k: shares[k] - counts[k], reverse=True)[:total - sum(counts)]:
        counts[k] += 1
    return counts


def _pick(labels: torch.Tensor, counts: list[int], *, seed: int) -> torch.Tensor:
    # Sorted indices of counts[k] examples of each class k: a permutation per class from one seeded generator.
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    chosen = []
    for k, count in enumerate(counts):
        members = torch.nonzero(labels == k).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.sort(torch.cat(chosen)).values


def hold_out_validation(data: Dataset, size: float, *, seed: int) -> Dataset:
    """Return `data` with `size` training examples (fraction or count) moved to its validation split.

    Raises:
        DatasetError: as `validation_counts`.
    """
    val = _pick(data.y_train, validation_counts(data.y_train, size, num_classes=data.num_classes), seed=seed)
    keep = torch.ones(len(data.y_train), dtype=torch.bool)
    keep[val] = False
    keep, val = keep.to(data.y_train.device), val.to(data.y_train.device)
    return dataclasses.replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep],
                               x_val=data.x_train[val], y_val=data.y_train[val])


def restandardise(data: Dataset) -> Dataset:
    """Return `data`, standardised by its own files' statistics, standardised by its training split's instead.

    Each split is taken back to the raw values (x * std + mean per channel, `Dataset.stats`) and
    standardised again with the mean and std of `x_train` as it is now; a constant channel keeps
    std 1. Data without `stats` (the built-in datasets, fixed constants) is returned as it is.
    """
    if data.stats is None:
        return data
    shape = (1, -1) + (1,) * (data.x_train.dim() - 2)
    old_mean, old_std = (torch.tensor(v, dtype=data.x_train.dtype, device=data.x_train.device).view(shape)
                         for v in data.stats)
    raw = {name: getattr(data, name) * old_std + old_mean for name in ("x_train", "x_test", "x_val")
           if getattr(data, name) is not None}
    mean, std = channel_stats(raw["x_train"])
    stats = (tuple(mean.flatten().tolist()), tuple(std.flatten().tolist()))
    return dataclasses.replace(data, **{name: (x - mean) / std for name, x in raw.items()}, stats=stats)
