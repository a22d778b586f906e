"""The temperature-like knobs of dense training (DESIGN.md 2.1): units, which way is hotter, advice words.

The one home of the knob vocabulary: the config's `study.knob` takes its names from `KNOBS`, the
trial resolves a temperature by them, and the analysis labels axes and words advice with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Knob:
    """One temperature-like knob.

    Attributes:
        unit: what a temperature value counts, for axis labels ("training epochs", ...).
        hotter_is_larger: True when a larger value is hotter (SAM rho, learning rate); False when
            a smaller one is (fewer epochs, smaller batches).
        hotter: the advice that raises the temperature (Regime I).
        colder: the advice that lowers it (Regime II-A).
    """

    unit: str
    hotter_is_larger: bool
    hotter: str
    colder: str


KNOBS: dict[str, Knob] = {
    "epochs": Knob("training epochs", False, "train fewer epochs", "train more epochs"),
    "batch_size": Knob("batch size", False, "use a smaller batch size", "use a larger batch size"),
    "sam_rho": Knob("SAM rho", True, "use a larger SAM rho", "use a smaller SAM rho"),
    "lr": Knob("learning rate", True, "use a larger learning rate", "use a smaller learning rate"),
}
# The config's type for study.knob, made from KNOBS so the names are spelled once.
KnobName = Literal[tuple(KNOBS)]  # type: ignore[valid-type]


def knob_words(knob: str) -> Knob:
    """Return the vocabulary of `knob`; an unknown knob (a study from a newer version) gets neutral words."""
    return KNOBS.get(knob, Knob(knob, True, f"raise {knob}", f"lower {knob}"))


def hot_to_cold(knob: str, temperatures) -> list[float]:
    """Return the distinct temperatures ordered from hottest to coldest for `knob`."""
    values = sorted(set(float(t) for t in temperatures))
    return values[::-1] if knob_words(knob).hotter_is_larger else values
