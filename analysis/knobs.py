"""The knob vocabulary of the analysis side: units, which way is hotter, and the words of the advice.

The analysis reads result files and imports no other package of the project, so it keeps its own
copy of what `trainables.knobs.KNOBS` says; a test checks that the units and directions agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnobWords:
    """How results of one knob are labelled and advised.

    Attributes:
        unit: what a temperature value counts (axis labels).
        hotter_is_larger: a larger value is hotter (SAM rho, lr) rather than colder (epochs, batch size).
        hotter: the advice that raises the temperature (Regime I).
        colder: the advice that lowers it (Regime II-A).
    """

    unit: str
    hotter_is_larger: bool
    hotter: str
    colder: str


KNOBS: dict[str, KnobWords] = {
    "epochs": KnobWords("training epochs", False, "train fewer epochs", "train more epochs"),
    "batch_size": KnobWords("batch size", False, "use a smaller batch size", "use a larger batch size"),
    "sam_rho": KnobWords("SAM rho", True, "use a larger SAM rho", "use a smaller SAM rho"),
    "lr": KnobWords("learning rate", True, "use a larger learning rate", "use a smaller learning rate"),
}


def knob_words(knob: str) -> KnobWords:
    """Return the vocabulary of `knob`; an unknown knob (a newer study) gets neutral words."""
    return KNOBS.get(knob, KnobWords(knob, True, f"raise {knob}", f"lower {knob}"))


def hot_to_cold(knob: str, temperatures) -> list[float]:
    """Return the distinct temperatures ordered from hottest to coldest for `knob`."""
    values = sorted(set(float(t) for t in temperatures))
    return values[::-1] if knob_words(knob).hotter_is_larger else values
