"""The from-scratch control (Liu et al., "Rethinking the Value of Network Pruning", ICLR 2019).

Fine-tuning a pruned model is often no better than training the same sparse architecture from a
random initialisation. The control answers that per cell: the cell's mask on a freshly
initialised model (the model's own initialisation, drawn from a recorded seed), trained with the
cell's retraining budget (schedule, epochs, batch size, plain SGD), and the gain of inheriting the
dense weights, `inherit_gain = test_acc - scratch_test_acc`. Only the starting weights differ from
the retrained copies.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from trainables.method.pruning import apply_masks
from trainables.run.engine import Masks
from trainables.run.runtime import seed_everything

SEED_OFFSET = 7_000_000  # keeps scratch seeds apart from dense seeds and copy seeds (1000 * seed + k)


def scratch_seeds(dense_seed: int, copies: int) -> list[int]:
    """Return the initialisation (and data-order) seed of each scratch copy of a cell of `dense_seed`."""
    return [SEED_OFFSET + 1000 * dense_seed + k + 1 for k in range(copies)]


def scratch_start(build: Callable[[], nn.Module], masks: Masks, *, seed: int) -> nn.Module:
    """Return a fresh model from `build()` initialised under `seed`, with the pruned weights of `masks` zeroed.

    Args:
        build: returns a new, untrained model of the study's architecture on the trial's device.
        masks: the cell's parameter name -> keep-mask, computed on the dense model.
        seed: seeds torch (and numpy, random) before `build()`, so the initialisation is reproducible.
    """
    seed_everything(seed)
    model = build()
    params = dict(model.named_parameters())
    missing = [name for name in masks if name not in params]
    if missing:
        raise ValueError(f"the fresh model has no parameters {missing} of the mask; build() must return the "
                         "study's architecture")
    return apply_masks(model, {name: mask.to(params[name].device) for name, mask in masks.items()})
