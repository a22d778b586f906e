"""The `resources` section of a study config: what a trial holds, where it computes, at what precision.

`gpu` is what Ray schedules by and `device` is where the trial computes; they are checked against
each other here, before Ray, so that no trial computes on a card Ray did not give it or holds one
it never uses.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from contract.section import Section


class ResourcesSection(Section):
    """Per-trial resources and failure policy."""

    cpu: Annotated[float, Field(gt=0)] = 1.0
    # A trial computes on one device: gpu 1 gives it a card, a fraction packs 1/gpu trials on one
    # card (memory not isolated), 0 keeps it on the CPU. More than 1 would reserve cards it never uses.
    gpu: Annotated[float, Field(ge=0)] = 0.0
    # "auto": CUDA when the trial holds a GPU (gpu > 0), else the CPU; Ray 2.60 no longer hides
    # the node's cards from a worker given none, so a trial never takes one Ray did not give it.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Dense training and retraining under bfloat16 autocast on CUDA: "auto" where the card does
    # bf16 natively (compute capability 8.0 or later), "bf16" always, "fp32" never. The CPU always
    # trains in float32; metrics are float32 (TF32 off) everywhere.
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    # Deterministic algorithms on CUDA (torch.use_deterministic_algorithms, cuDNN autotuning off):
    # the same numbers run to run on the same card and software, at some speed. The CPU is
    # deterministic either way; the pruning masks are computed on the CPU in float64 everywhere.
    deterministic: bool = False
    # Retrain the K copies, and evaluate the copies and the points of each LMC line, as one
    # stacked model (grouped convolutions; DESIGN.md 6.1): the same batches and updates per copy,
    # up to float rounding. It pays where one small model leaves the device idle (a GPU); on the
    # 2-core development CPU, compute-bound at one thread per trial, it measured 0.96x (K = 2)
    # to 1.1x (K = 3) per demo cell (benchmarks/copies.py). "auto": stacked on CUDA only.
    stacked: Union[bool, Literal["auto"]] = "auto"
    max_failures: Annotated[int, Field(ge=0)] = 2
    # A trial with no training step, evaluation batch or wait for a shared dense run in this many
    # seconds is taken as hung: it is ended and retried from its last reported density, as a
    # failure under max_failures (`trainables.run.watchdog`). Half an hour is far above a step of
    # any model here; None: never.
    trial_timeout_s: Optional[Annotated[float, Field(gt=0)]] = 1800.0

    @field_validator("cpu", "gpu", mode="before")
    @classmethod
    def _int_ok(cls, value):
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_device(self) -> "ResourcesSection":
        # Ray schedules by `gpu`, the trial computes on `device`: they must say the same thing.
        if self.gpu > 1:
            raise ValueError(f"resources.gpu: {self.gpu:g} reserves {self.gpu:g} GPUs and a trial computes on one; "
                             "use 1 (a card each) or a fraction such as 0.25 (four trials a card)")
        if self.device == "cpu" and self.gpu > 0:
            raise ValueError(f"resources.gpu: {self.gpu:g} reserves a GPU that resources.device: cpu never uses; set "
                             "resources.gpu: 0, or resources.device: auto (or cuda)")
        if self.device == "cuda" and self.gpu == 0:
            raise ValueError("resources.device: cuda with resources.gpu: 0 runs on a card Ray did not give the "
                             "trial, so trials pile onto it unseen; set resources.gpu (1, or 0.25 to pack four "
                             "trials a card), or resources.device: auto")
        return self
