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
"""

from __future__ import annotations

import dataclasses
import math

import torch

from trainables.data.dataset import Dataset, DatasetError


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
        total = int(size)
        if total >= n:
            raise DatasetError(f"data.validation: {total} examples is not smaller than the training split ({n}); "
                               f"use fewer, or a fraction such as 0.1")
        shares = [total * c / n for c in per_class]
        counts = [math.floor(s) for s in shares]
        for k in sorted(range(num_classes), key=lambda k: shares[k] - counts[k], reverse=True)[:total - sum(counts)]:
            counts[k] += 1
    emptied = [k for k, (c, v) in enumerate(zip(per_class, counts, strict=True)) if c > 0 and v >= c]
    if emptied:
        raise DatasetError(f"data.validation: {size:g} leaves class {emptied[0]} with no training example "
                           f"(it has {per_class[emptied[0]]}); use a smaller validation split")
    return counts


def hold_out_validation(data: Dataset, size: float, *, seed: int) -> Dataset:
    """Return `data` with `size` training examples (fraction or count) moved to its validation split.

    Raises:
        DatasetError: as `validation_counts`.
    """
    counts = validation_counts(data.y_train, size, num_classes=data.num_classes)
    generator = torch.Generator().manual_seed(seed)
    labels = data.y_train.cpu()
    held = []
    for k, count in enumerate(counts):
        members = torch.nonzero(labels == k).flatten()
        held.append(members[torch.randperm(len(members), generator=generator)[:count]])
    val = torch.sort(torch.cat(held)).values
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[val] = False
    keep, val = keep.to(data.y_train.device), val.to(data.y_train.device)
    return dataclasses.replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep],
                               x_val=data.x_train[val], y_val=data.y_train[val])
