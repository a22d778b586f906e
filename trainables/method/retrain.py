"""Retraining a pruned model in K copies (DESIGN.md 2.3), stacked into one model or one after another.

The copies start from the same pruned weights with the same mask and differ only in their data
seed. By default they train as one stacked model (`trainables.run.stacked`, DESIGN.md 6.1): the
same batches per copy, the same updates up to float rounding, a fraction of the time. A model
with a layer that has no stacked form is retrained one copy after another, as `sequential`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

from torch import nn

from trainables.data.dataset import Dataset
from trainables.run.engine import Masks, TrainResult, evaluate, evaluate_stacked, train, train_stacked
from trainables.run.settings import SGDRun
from trainables.run.stacked import stack_masks, stack_models, unstack_models, unstackable_reason


@dataclass
class RetrainedCopy:
    """One retrained copy of a pruned model.

    Attributes:
        model: the retrained network (masked weights exactly zero).
        test_acc: mean test accuracy (0-1) over the last `last_epochs` epochs of retraining
            (the final one when fewer ran); NaN when the copy diverged.
        train: the TrainResult of its retraining.
    """

    model: nn.Module
    test_acc: float
    train: TrainResult


def retrain_copies(pruned: nn.Module, masks: Masks, data: Dataset, *, run: SGDRun, seeds: list[int],
                   last_epochs: int, stacked: bool = True) -> list[RetrainedCopy]:
    """Return one retrained copy per seed, all starting from the same pruned weights with masks held.

    Seeds change data order and augmentation only. Plain SGD (DESIGN.md 2.3), whatever trained
    the dense model: `run` (lr rewinding: the dense schedule) has sam_rho 0.

    Args:
        pruned: the pruned model (masked weights zero); left unchanged.
        masks: parameter name -> keep-mask.
        data: device-resident dataset.
        run: the retraining run: schedule, steps (whole epochs), batch size, momentum, weight decay.
        seeds: one data seed per copy.
        last_epochs: test accuracy is averaged over this many final epochs (all of them when fewer ran).
        stacked: train the copies as one stacked model when the architecture allows it.
    """
    epochs = -(-run.steps // run.schedule.steps_per_epoch)  # epochs the loop runs (the last may be partial)
    first_scored = epochs - last_epochs + 1
    reason = unstackable_reason(pruned)
    if stacked and reason is not None:
        warnings.warn(f"retraining the copies one after another: {reason}", stacklevel=2)
    if stacked and len(seeds) > 1 and reason is None:
        model = stack_models(pruned, [pruned.state_dict()] * len(seeds))
        scores: list[list[float]] = []

        def score_all(epoch: int, _losses: list[float]) -> None:
            if epoch >= first_scored:
                scores.append([e.accuracy for e in evaluate_stacked(model, data.x_test, data.y_test,
                                                                    copies=len(seeds))])

        results = train_stacked(model, data, run, seeds=seeds, masks=stack_masks(masks, model), on_epoch=score_all)
        models = unstack_models(model, pruned, len(seeds))
        per_copy = [[row[k] for row in scores] for k in range(len(seeds))]
        return [RetrainedCopy(m, _mean_or_nan(accs, r.diverged), r)
                for m, accs, r in zip(models, per_copy, results, strict=True)]
    copies = []
    for seed in seeds:
        model = copy.deepcopy(pruned)
        accuracies: list[float] = []

        def score(epoch: int, _losses: list[float], *, model: nn.Module = model, accuracies: list = accuracies) -> None:
            if epoch >= first_scored:
                accuracies.append(evaluate(model, data.x_test, data.y_test).accuracy)

        result = train(model, data, run, seed=seed, masks=masks, on_epoch=score)
        copies.append(RetrainedCopy(model, _mean_or_nan(accuracies, result.diverged), result))
    return copies


def _mean_or_nan(values: list[float], diverged: bool) -> float:
    return sum(values) / len(values) if values and not diverged else float("nan")
