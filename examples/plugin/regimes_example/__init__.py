"""An example plug-in: a factory for a model and a loader for a dataset, registered in pyproject.toml."""

import math

import torch
from torch import nn

from trainables.data import Dataset


def make_tinynet(*, input_shape, num_classes, hidden=32):
    """A one-hidden-layer MLP for inputs of `input_shape` (the model factory's signature)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


def load_blobs(*, root):
    """Four Gaussian blobs in 16 dimensions, 256 training and 128 test points (the loader's signature)."""
    gen = torch.Generator().manual_seed(0)
    centres = 1.5 * torch.randn(4, 16, generator=gen)

    def split(n):
        y = torch.arange(n) % 4
        return (centres[y] + torch.randn(n, 16, generator=gen)).unsqueeze(1), y

    (x_train, y_train), (x_test, y_test) = split(256), split(128)
    return Dataset(x_train, y_train, x_test, y_test, num_classes=4, augmentation="none")
