"""The method's sections, in the order of a trial: dense training, pruning, retraining, metrics, controls."""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import Field, field_validator

from contract.names import BnStats, PruningMethod
from contract.section import Density, PositiveFloat, PositiveInt, Section, listed_once


class SGDSchedule(Section):
    """SGD with momentum and weight decay on a step schedule: the paper's 160 epochs, x0.1 at 80 and 120."""

    epochs: PositiveInt = 160
    milestones: list[PositiveInt] = Field(default_factory=lambda: [80, 120])
    lr: PositiveFloat = 0.1
    gamma: PositiveFloat = 0.1
    batch_size: PositiveInt = 64
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4


class DenseSection(SGDSchedule):
    """Dense training (DESIGN.md 2.1). The knob's value replaces the matching field per trial.

    Knob "epochs" stops at epoch `temperature` of this `epochs`-long schedule. Knob "batch_size"
    trains `iterations` steps with lr drops at `milestone_fractions` of them and drop_last.
    """

    sam_rho: Annotated[float, Field(ge=0)] = 0.0
    iterations: PositiveInt = 62_400
    milestone_fractions: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=lambda: [0.5, 0.75])


class PruningSection(Section):
    """How the dense model is pruned, and to which densities (fraction of weights kept)."""

    method: PruningMethod = "uniform"
    densities: list[Density] = Field(default_factory=lambda: [0.05, 0.06, 0.07, 0.08, 0.1, 0.14, 0.2, 0.4, 0.8],
                                     min_length=1)
    include_fc: bool = False
    exclude: list[str] = Field(default_factory=list)  # fnmatch patterns of module names left dense
    seed: int = 0
    # method "alpha" (AlphaPruning): layer sparsities spread over [(1 - eps) S, (1 + eps) S] by
    # each layer's heavy-tail exponent; 0 is uniform; AlphaPruning's default 0.3.
    alpha_eps: Annotated[float, Field(ge=0, lt=1)] = 0.3

    @field_validator("densities")
    @classmethod
    def _each_once(cls, value):
        return listed_once(value, "density")


class RetrainSection(SGDSchedule):
    """Retraining of the pruned model (lr rewinding, plain SGD; DESIGN.md 2.3)."""

    copies: PositiveInt = 3
    last_epochs: PositiveInt = 5


class MetricsSection(Section):
    """Landscape metrics between retrained copies, and the regime thresholds."""

    lmc: bool = True
    lmc_points: Annotated[int, Field(ge=2)] = 11
    lmc_subset: Optional[PositiveInt] = None
    cka: bool = True
    cka_examples: PositiveInt = 6464
    eval_batch_size: PositiveInt = 1024
    # BatchNorm re-estimation before each LMC point: the paper's code runs batches of 64 and keeps
    # the size-weighted average of per-batch statistics ("paper"); "exact" pools all activations.
    bn_batch_size: PositiveInt = 64
    bn_stats: BnStats = "paper"
    mc_threshold: float = -0.2
    # Beyond test accuracy (Liebenwein et al. 2021): per cell, agreement of the copies' test
    # predictions with the dense model's, test accuracy under additive Gaussian noise at these
    # levels (units of the training split's per-feature std), and on images contrast, brightness
    # and blur at one severity; the dense model's own values on every row (`trainables.method.beyond`).
    beyond_accuracy: bool = False
    noise_levels: list[Annotated[float, Field(ge=0)]] = Field(default_factory=lambda: [0.5, 1.0])
    cka_eps: Annotated[float, Field(ge=0)] = 0.005
    # Heavy-tailed spectra of the prunable layers (HT-SR; `trainables.method.spectra`): the dense
    # model's once per trial, the pruned model's (before retraining) per cell; no data needed.
    spectra: bool = True
    # A cell is called Regime I or II only when its mc is beyond mc_threshold by more than this
    # many standard errors (over dense seeds; with one seed, over copies); otherwise I? or II?.
    confidence: Annotated[float, Field(ge=0)] = 2.0


class ControlsSection(Section):
    """Controls beside the method.

    scratch: per cell, the cell's mask on a freshly initialised model (the model's own init,
    recorded seeds), trained with the retraining budget: Liu et al. 2019's question whether the
    dense weights mattered (`trainables.method.controls`); scratch_copies such models per cell.
    """

    scratch: bool = False
    scratch_copies: PositiveInt = 1
