"""Applying a proxy (`contract.proxy`): the full study's config made smaller along the named axes, once.

`load_config` calls `proxy_changes` on the validated config; where it returns changes, they are
written into the YAML's dict and the result validated again, so every rule that holds for a
config (milestones before the end, a screen shorter than the budget, a validation split the
subset can hold) holds for the proxy, with the same one-line errors. A proxy that means nothing
(a width that leaves a layer without channels, a subset smaller than the classes, a fraction of
the epoch knob that merges two temperatures) is refused here, before Ray starts.
"""

from __future__ import annotations

import functools
from typing import Any

from contract.config import StudyConfig
from contract.names import MODELS

PROXY_MARK = "-proxy-"  # a proxy study lives beside its full study: NAME-proxy-width0.25


def _half_up(value: float) -> int:
    # Every axis rounds its scaled count half up (2.5 epochs -> 3), as model widths do (trainables.models.width).
    return int(value + 0.5)


def _epochs(epochs: int, fraction: float) -> int:
    return max(1, _half_up(epochs * fraction))


def _milestones(milestones: list[int], fraction: float, epochs: int) -> list[int]:
    # Each learning-rate drop at the same fraction of the shorter schedule; one that lands on the
    # start or the end (or on another) is dropped: it would never drop the rate, or drop it twice.
    return sorted({m for m in (_half_up(x * fraction) for x in milestones) if 0 < m < epochs})


def _width(config: StudyConfig, fraction: float) -> dict[str, Any]:
    m = config.model
    if m.name not in MODELS:
        raise ValueError(f"proxy.width: {m.name} is not a built-in model, and a width multiplier means nothing to it "
                         "(its size is its kwargs); remove proxy.width, or give the proxy's model.kwargs yourself")
    from trainables.models.width import check_width

    try:
        check_width(m.name, m.width * fraction)
    except ValueError as err:
        raise ValueError(f"proxy.width: {fraction:g} of model.width {m.width:g}: {err}") from None
    return {"model.width": m.width * fraction}


def _train_subset(config: StudyConfig, fraction: float) -> dict[str, Any]:
    from trainables.cell.calibrate import SHAPES
    from trainables.data.catalog import training_labels

    d = config.data
    known = training_labels(d.name, d.root)
    if known is not None:
        size, classes = len(known[0]), known[1]
    elif d.name in SHAPES:
        size, classes = SHAPES[d.name][1], SHAPES[d.name][3]
    else:
        raise ValueError(f"proxy.train_subset: the size of {d.name}'s training split is not known before a trial "
                         "reads it; set data.train_subset to the proxy's number of examples instead")
    size = d.train_subset or size
    count = _half_up(size * fraction)
    if count < classes:
        raise ValueError(f"proxy.train_subset: {fraction:g} of {size:,} training examples is {count}, fewer than the "
                         f"{classes} classes; use at least {classes / size:.3g}")
    return {"data.train_subset": count}


def _dense_epochs(config: StudyConfig, fraction: float) -> dict[str, Any]:
    epochs = _epochs(config.dense.epochs, fraction)
    changes: dict[str, Any] = {"dense.epochs": epochs,
                               "dense.milestones": _milestones(config.dense.milestones, fraction, epochs)}
    if config.study.knob == "epochs":  # the temperatures are epochs of that schedule: they shrink with it
        temperatures = [type(t)(_epochs(int(t), fraction)) for t in config.study.temperatures]
        if len(set(temperatures)) < len(temperatures):
            raise ValueError(f"proxy.dense_epochs: {fraction:g} of the epoch knob's temperatures "
                             f"[{', '.join(f'{t:g}' for t in config.study.temperatures)}] gives "
                             f"[{', '.join(f'{t:g}' for t in temperatures)}], two or more the same; use a larger "
                             "fraction")
        changes["study.temperatures"] = temperatures
    return changes


def _retrain_epochs(config: StudyConfig, fraction: float) -> dict[str, Any]:
    r = config.retrain
    epochs = _epochs(r.epochs, fraction)
    changes: dict[str, Any] = {"retrain.epochs": epochs,
                               "retrain.milestones": _milestones(r.milestones, fraction, epochs),
                               "retrain.last_epochs": min(r.last_epochs, epochs)}
    if config.study.screen_epochs is not None:
        changes["study.screen_epochs"] = _epochs(config.study.screen_epochs, fraction)
    return changes


AXES = {"width": _width, "train_subset": _train_subset, "dense_epochs": _dense_epochs,
        "retrain_epochs": _retrain_epochs}


def proxy_changes(config: StudyConfig) -> dict[str, Any]:
    """Return {"section.key": value} that make `config` its proxy, {} where it has none or it is applied.

    The changes include `proxy.full` (the full study's values of every changed key) and the
    proxy's study.name (NAME-proxy-AXES, beside the full study). Raises ValueError, one line
    naming the axis, for a proxy that means nothing.
    """
    proxy = config.proxy
    if not proxy.axes() or proxy.full:
        return {}
    changes: dict[str, Any] = {}
    for axis, fraction in proxy.axes().items():
        changes |= AXES[axis](config, fraction)
    full = {key: functools.reduce(getattr, key.split("."), config) for key in changes}
    suffix = "-".join(f"{axis}{fraction:g}" for axis, fraction in proxy.axes().items())
    return {**changes, "proxy.full": full, "study.name": f"{config.study.name}{PROXY_MARK}{suffix}"}


def with_changes(raw: dict, changes: dict[str, Any]) -> dict:
    """Return a copy of the YAML's dict `raw` with {"section.key": value} written in."""
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in raw.items()}
    for key, value in changes.items():
        section, name = key.split(".", 1)
        out.setdefault(section, {})[name] = value
    return out
