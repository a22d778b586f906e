"""A proxy study: the same question asked of a cheaper study, smaller along named axes (docs/proxies.md).

Each axis is a fraction of the full study's: `width` of model.width (a narrower network),
`train_subset` of the training split (stratified by class, data.train_subset_seed), `dense_epochs`
of dense.epochs (its milestones, and the epoch knob's temperatures, scaled with it), and
`retrain_epochs` of retrain.epochs (its milestones and last_epochs, and a screen's epochs).
`study.config.load_config` applies them once, when a YAML file is loaded: the config then holds
the proxy's own values, and `full` the full study's values of every key the proxy changed, so a
saved proxy config is never scaled twice and a reader can tell what it stands in for. Every result
row records the axes (`CellRow.proxy`).
"""

from __future__ import annotations

from typing import Annotated, Optional, Union

from pydantic import Field

from contract.section import Section

Fraction = Annotated[float, Field(gt=0, le=1)]
AXES = ("width", "train_subset", "dense_epochs", "retrain_epochs")


class ProxySection(Section):
    """Fractions of the full study along each axis; None (the default) leaves that axis full-size."""

    width: Optional[Fraction] = None
    train_subset: Optional[Fraction] = None
    dense_epochs: Optional[Fraction] = None
    retrain_epochs: Optional[Fraction] = None
    # Filled where the proxy is applied: {"dense.epochs": 20, ...}, the full study's values.
    full: dict[str, Union[None, int, float, list[int], list[float]]] = Field(default_factory=dict)

    def axes(self) -> dict[str, float]:
        """Return {axis: fraction} of the axes this proxy shrinks (empty for a full-size study)."""
        return {axis: getattr(self, axis) for axis in AXES if getattr(self, axis) not in (None, 1.0)}

    def describe(self) -> str:
        """Return the axes as one short phrase ("width 0.25, dense_epochs 0.5"), "" for a full-size study."""
        return ", ".join(f"{axis} {fraction:g}" for axis, fraction in self.axes().items())
