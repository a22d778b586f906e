"""Piecewise-constant learning-rate schedules indexed by optimizer step (DESIGN.md 2.1).

By epoch (the paper's 160 epochs with drops at 80 and 120) or by fractions of a fixed number of
iterations (the batch-size knob: 62,400 steps, drops at 50 % and 75 %).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepSchedule:
    """Piecewise-constant learning rate indexed by optimizer step.

    Attributes:
        lr: base learning rate.
        total_steps: length of the full schedule in optimizer steps.
        milestones: steps at which the learning rate is multiplied by `gamma`.
        steps_per_epoch: optimizer steps in one pass over the training set.
        gamma: decay factor at each milestone.
    """

    lr: float
    total_steps: int
    milestones: tuple[int, ...]
    steps_per_epoch: int
    gamma: float = 0.1

    def lr_at(self, step: int) -> float:
        """Return the learning rate used by optimizer step `step` (0-based)."""
        return self.lr * self.gamma ** sum(step >= m for m in self.milestones)

    @property
    def epochs(self) -> int:
        """Number of (possibly partial final) epochs the schedule spans."""
        return -(-self.total_steps // self.steps_per_epoch)


def epoch_schedule(lr: float, *, epochs: int, steps_per_epoch: int, milestone_epochs: tuple[int, ...],
                   gamma: float = 0.1) -> StepSchedule:
    """Return a schedule of `epochs` epochs whose lr drops by `gamma` at the start of each milestone epoch."""
    return StepSchedule(lr, epochs * steps_per_epoch,
                        tuple(e * steps_per_epoch for e in milestone_epochs), steps_per_epoch, gamma)


def iteration_schedule(lr: float, *, total_steps: int, steps_per_epoch: int,
                       milestone_fractions: tuple[float, ...], gamma: float = 0.1) -> StepSchedule:
    """Return a schedule of `total_steps` steps whose lr drops at the given fractions of it."""
    return StepSchedule(lr, total_steps, tuple(round(f * total_steps) for f in milestone_fractions),
                        steps_per_epoch, gamma)
