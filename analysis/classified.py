"""One reader for every question: a study read, aggregated over dense seeds, and classified.

`open_study` is what the `regimes` question commands, the report and Python users call. The
regime thresholds default to the study's own `metrics.mc_threshold` and `metrics.cka_eps`, as
saved in every trial's config, so a study is read back with the rule it was planned with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.classify import aggregate, classify
from analysis.load import Study, StudyReadError, read_study


@dataclass
class ClassifiedStudy:
    """A study ready for questions.

    Attributes:
        study: the raw study (per-seed cells, trials, config).
        cells: one row per (knob, temperature, density), averaged over dense seeds and classified
            (see `analysis.classify.classify`).
        mc_threshold: the Regime-I threshold used (mc, training-error scale).
        cka_eps: the II-B tolerance used (CKA, 0-1).
        confidence: standard errors an mc must clear the threshold by to be called (0: none).
    """

    study: Study
    cells: pd.DataFrame
    mc_threshold: float
    cka_eps: float
    confidence: float

    @property
    def name(self) -> str:
        """Return the study's name (its config's study.name, else its folder's name)."""
        return self.study.config.study.name if self.study.config is not None else Path(self.study.path).name


def open_study(path: str | Path, *, mc_threshold: float | None = None, cka_eps: float | None = None,
               confidence: float | None = None) -> ClassifiedStudy:
    """Return the study at `path` read, aggregated and classified with its own thresholds unless overridden.

    Args:
        path: the study directory (storage/name) or a Tune-supported URI.
        mc_threshold: Regime I below this mc; None: the study's metrics.mc_threshold.
        cka_eps: II-B within this CKA of the density's best; None: the study's metrics.cka_eps.
        confidence: standard errors for a confident call; None: the study's metrics.confidence
            (a study planned before that setting existed is read without it, as then: 0).

    Raises:
        StudyReadError: not a study, no cells reported yet, or no thresholds saved and none given.
    """
    study = read_study(path)
    if study.cells.empty:
        raise StudyReadError(f"{path}: no cells reported yet; wait for the study or run it")
    saved = study.config.metrics if study.config is not None else None
    tau = mc_threshold if mc_threshold is not None or saved is None else saved.mc_threshold
    eps = cka_eps if cka_eps is not None or saved is None else saved.cka_eps
    if tau is None or eps is None:
        raise StudyReadError(f"{path}: the study holds no config with metrics.mc_threshold / metrics.cka_eps; "
                             "give them with --mc-threshold and --cka-eps")
    # A study planned before metrics.confidence existed reads with 0, as then (contract.config).
    conf = confidence if confidence is not None else saved.confidence if saved is not None else 0.0
    cells = classify(aggregate(study.cells), mc_threshold=float(tau), cka_eps=float(eps), confidence=float(conf))
    return ClassifiedStudy(study, cells, float(tau), float(eps), float(conf))
