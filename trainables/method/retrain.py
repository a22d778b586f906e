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
        val_acc: the same mean on the validation split, 0-1; NaN without one.
    """

    model: nn.Module
    test_acc: float
    train: TrainResult
    val_acc: float = float("nan")


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
    splits = [(data.x_test, data.y_test)] + ([(data.x_val, data.y_val)] if data.has_validation else [])
    if stacked and len(seeds) > 1 and reason is None:
        model = stack_models(pruned, [pruned.state_dict()] * len(seeds))
        scores: list[list[list[float]]] = []  # per scored epoch, per split, per copy

        def score_all(epoch: int, _losses: list[float]) -> None:
            if epoch >= first_scored:
                scores.append([[e.accuracy for e in evaluate_stacked(model, x, y, copies=len(seeds))]
                               for x, y in splits])

        results = train_stacked(model, data, run, seeds=seeds, masks=stack_masks(masks, model), on_epoch=score_all)
        models = unstack_models(model, pruned, len(seeds))
        return [_copy(m, [[epoch[s][k] for epoch in scores] for s in range(len(splits))], r)
                for k, (m, r) in enumerate(zip(models, results, strict=True))]
    copies = []
    for seed in seeds:
        model = copy.deepcopy(pruned)
        accuracies: list[list[float]] = [[] for _ in splits]  # per split, per scored epoch

        def score(epoch: int, _losses: list[float], *, model: nn.Module = model, accuracies: list = accuracies) -> None:
            if epoch >= first_scored:
                for (x, y), kept in zip(splits, accuracies, strict=True):
                    kept.append(evaluate(model, x, y).accuracy)

        result = train(model, data, run, seed=seed, masks=masks, on_epoch=score)
        copies.append(_copy(model, accuracies, result))
    return copies


def _copy(model: nn.Module, accuracies: list[list[float]], result: TrainResult) -> RetrainedCopy:
    # accuracies: the scored epochs' test accuracies, then (with a validation split) validation's.
    val = _mean_or_nan(accuracies[1], result.diverged) if len(accuracies) > 1 else float("nan")
    return RetrainedCopy(model, _mean_or_nan(accuracies[0], result.diverged), result, val)


def _mean_or_nan(values: list[float], diverged: bool) -> float:
    return sum(values) / len(values) if values and not diverged else float("nan")
