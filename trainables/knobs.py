"""The temperature-like knobs of dense training (DESIGN.md 2.1), and what one temperature means.

`KNOBS` is the trainables side's vocabulary: each knob's unit and which way is hotter. The
analysis side keeps its own copy (it reads files, it does not import this package) and a test
checks that the two agree. `resolve_dense_run` turns (knob, temperature, the dense schedule's
fields) into the explicit values the engine trains with: no config section reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainables.data import steps_per_epoch
from trainables.schedules import StepSchedule, epoch_schedule, iteration_schedule


@dataclass(frozen=True)
class Knob:
    """One temperature-like knob.

    Attributes:
        unit: what a temperature value counts, for axis labels ("training epochs", ...).
        hotter_is_larger: True when a larger value is hotter (SAM rho, learning rate); False when
            a smaller one is (fewer epochs, smaller batches).
    """

    unit: str
    hotter_is_larger: bool


KNOBS: dict[str, Knob] = {
    "epochs": Knob("training epochs", hotter_is_larger=False),
    "batch_size": Knob("batch size", hotter_is_larger=False),
    "sam_rho": Knob("SAM rho", hotter_is_larger=True),
    "lr": Knob("learning rate", hotter_is_larger=True),
}


@dataclass(frozen=True)
class DenseRun:
    """The explicit settings of one dense training run at one temperature.

    Attributes:
        schedule: learning rate per optimizer step (the full schedule, even when stopped early).
        steps: optimizer steps to take (for the epochs knob: temperature x steps per epoch).
        batch_size: examples per step.
        sam_rho: SAM radius; 0 is plain SGD.
        drop_last: skip the partial final batch of each epoch (the batch-size knob).
    """

    schedule: StepSchedule
    steps: int
    batch_size: int
    sam_rho: float
    drop_last: bool


def resolve_dense_run(knob: str, temperature: float, *, n_train: int, epochs: int, milestones: list[int],
                      lr: float, gamma: float, batch_size: int, sam_rho: float, iterations: int,
                      milestone_fractions: list[float]) -> DenseRun:
    """Return the dense run that temperature `temperature` of `knob` stands for.

    "epochs": the first `temperature` epochs of the `epochs`-long schedule (its lr drops still
    apply); "batch_size": `iterations` steps at that batch size, lr drops at
    `milestone_fractions` of them, partial batches dropped; "sam_rho": SAM at that rho;
    "lr": the schedule at that base learning rate.

    Args:
        knob: one of KNOBS.
        temperature: the knob's value, in its unit.
        n_train: training examples (sets the steps per epoch).
        epochs: length of the dense schedule in epochs.
        milestones: epochs at which the lr drops.
        lr: base learning rate.
        gamma: lr factor at each drop.
        batch_size: examples per step (unless the knob sets it).
        sam_rho: SAM radius (unless the knob sets it).
        iterations: steps of the batch-size knob's fixed-iteration schedule.
        milestone_fractions: where the batch-size knob's lr drops, as fractions of `iterations`.

    Raises:
        ValueError: unknown knob.
    """
    if knob not in KNOBS:
        raise ValueError(f"unknown knob {knob!r}; use one of {', '.join(KNOBS)}")
    if knob == "batch_size":
        batch_size = int(temperature)
        schedule = iteration_schedule(lr, total_steps=iterations, milestone_fractions=tuple(milestone_fractions),
                                      steps_per_epoch=steps_per_epoch(n_train, batch_size, drop_last=True),
                                      gamma=gamma)
        return DenseRun(schedule, iterations, batch_size, sam_rho, drop_last=True)
    if knob == "sam_rho":
        sam_rho = float(temperature)
    elif knob == "lr":
        lr = float(temperature)
    spe = steps_per_epoch(n_train, batch_size, drop_last=False)
    schedule = epoch_schedule(lr, epochs=epochs, steps_per_epoch=spe, milestone_epochs=tuple(milestones), gamma=gamma)
    steps = int(temperature) * spe if knob == "epochs" else schedule.total_steps
    return DenseRun(schedule, steps, batch_size, sam_rho, drop_last=False)
