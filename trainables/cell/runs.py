"""The config's schedules as the engine's run settings: the dense run at one temperature, a cell's retraining.

Where a temperature of a knob becomes explicit settings (DESIGN.md 2.1), once for the trial and
the planner alike: "epochs" stops at epoch `temperature` of the dense schedule (its lr drops
still apply); "batch_size" trains `dense.iterations` steps at that batch size with lr drops at
`dense.milestone_fractions` of them and partial batches dropped; "sam_rho" trains with SAM at
that rho; "lr" runs the schedule at that base learning rate. Retraining is lr rewinding with
plain SGD on the retraining schedule (DESIGN.md 2.3).
"""

from __future__ import annotations

from contract.config import DataSection, DenseSection, RetrainSection
from contract.knobs import KNOBS
from trainables.data.dataset import steps_per_epoch
from trainables.run.schedules import epoch_schedule, iteration_schedule
from trainables.run.settings import SGDRun


def dense_run(knob: str, temperature: float, *, dense: DenseSection, data: DataSection, n_train: int,
              precision: str = "auto") -> SGDRun:
    """Return the dense run that temperature `temperature` of `knob` stands for, on `n_train` examples.

    `precision` is resources.precision (bf16 autocast on CUDA, `trainables.run.runtime.bf16_training`).

    Raises:
        ValueError: unknown knob.
    """
    if knob not in KNOBS:
        raise ValueError(f"unknown knob {knob!r}; use one of {', '.join(KNOBS)}")
    sgd = {"momentum": dense.momentum, "weight_decay": dense.weight_decay, "augment": data.augment,
           "precision": precision}
    if knob == "batch_size":
        batch_size = int(temperature)
        schedule = iteration_schedule(dense.lr, total_steps=dense.iterations, gamma=dense.gamma,
                                      milestone_fractions=tuple(dense.milestone_fractions),
                                      steps_per_epoch=steps_per_epoch(n_train, batch_size, drop_last=True))
        return SGDRun(schedule, dense.iterations, batch_size, sam_rho=dense.sam_rho, drop_last=True, **sgd)
    sam_rho = float(temperature) if knob == "sam_rho" else dense.sam_rho
    lr = float(temperature) if knob == "lr" else dense.lr
    schedule = epoch_schedule(lr, epochs=dense.epochs, milestone_epochs=tuple(dense.milestones), gamma=dense.gamma,
                              steps_per_epoch=steps_per_epoch(n_train, dense.batch_size, drop_last=False))
    steps = int(temperature) * schedule.steps_per_epoch if knob == "epochs" else schedule.total_steps
    return SGDRun(schedule, steps, dense.batch_size, sam_rho=sam_rho, drop_last=False, **sgd)


def retrain_run(*, retrain: RetrainSection, data: DataSection, n_train: int, precision: str = "auto") -> SGDRun:
    """Return the retraining run of every copy of a cell: the whole retraining schedule, plain SGD, at `precision`."""
    schedule = epoch_schedule(retrain.lr, epochs=retrain.epochs, milestone_epochs=tuple(retrain.milestones),
                              gamma=retrain.gamma,
                              steps_per_epoch=steps_per_epoch(n_train, retrain.batch_size, drop_last=False))
    return SGDRun(schedule, schedule.total_steps, retrain.batch_size, momentum=retrain.momentum,
                  weight_decay=retrain.weight_decay, sam_rho=0.0, drop_last=False, augment=data.augment,
                  precision=precision)
