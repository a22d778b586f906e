"""The settings of one SGD (or SAM) run, as one frozen bundle the engine takes whole.

Built once from the config (`trainables.cell.runs`: the dense run at a temperature, the
retraining run of a cell) and passed down to `train`, `train_stacked` and `retrain_copies`, so
that no layer lists the optimizer's settings keyword by keyword.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from trainables.run.schedules import StepSchedule


@dataclass(frozen=True)
class SGDRun:
    """One run of SGD with momentum and weight decay (SAM around it when sam_rho > 0).

    Attributes:
        schedule: learning rate per optimizer step (the full schedule, even when stopped early).
        steps: optimizer steps to take, counted from the run's start (for the epochs knob:
            temperature x steps per epoch).
        batch_size: examples per step.
        momentum: SGD momentum.
        weight_decay: L2 coefficient applied by SGD to every parameter.
        sam_rho: SAM radius; 0 is plain SGD.
        drop_last: skip the final partial batch of each epoch (the batch-size knob).
        augment: apply the dataset's augmentation.
        precision: resources.precision: "auto", "bf16" or "fp32" autocast on CUDA
            (`trainables.run.runtime.bf16_training`); the CPU trains in float32.
    """

    schedule: StepSchedule
    steps: int
    batch_size: int
    momentum: float
    weight_decay: float
    sam_rho: float = 0.0
    drop_last: bool = False
    augment: bool = True
    precision: str = "auto"

    @property
    def epochs(self) -> float:
        """Return the run's length in epochs of its schedule (steps / steps per epoch)."""
        return self.steps / self.schedule.steps_per_epoch

    def replace(self, **changes) -> "SGDRun":
        """Return a copy with `changes` applied (e.g. fewer `steps` for a timing probe)."""
        return dataclasses.replace(self, **changes)
