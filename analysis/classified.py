"""One reader for every question: a study read, aggregated over dense seeds, and classified.

`open_study` is what the `regimes` question commands, the report and Python users call; the
object it returns asks every question (`select`, `advise`, `recommend_rho`, `validate`,
`regime_map`, `report`) with the study's own thresholds. The
regime thresholds default to the study's own `metrics.mc_threshold` and `metrics.cka_eps`, as
saved in every trial's config, so a study is read back with the rule it was planned with.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import plotly.graph_objects as go


from analysis.advice import advise, has_validation, recommend_rho, require_criterion, select_model
from analysis.classify import aggregate, classify
from analysis.load import Study, StudyReadError, read_screen, read_study
from analysis.plots import regime_map as draw_regime_map
from analysis.prunability import DEFAULT_MARGIN_POINTS, prune_potential
from analysis.report import layers_of, write_report
from analysis.screen import with_screen
from analysis.spectra import DENSE_METRICS, has_spectra, predict_regime_one, rank_correlations
from analysis.validate import criteria_regrets, select_regrets, validate_advice
from contract.seeds import study_confidence
from contract.store import is_uri, join, write_bytes


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

    def __repr__(self) -> str:
        cells = self.cells
        knob = str(cells["knob"].iloc[0]) if len(cells) else "?"
        missing = f", {self.study.missing} cells missing" if self.study.missing else ""
        return (f"<ClassifiedStudy {self.name!r}: {knob}, {cells['temperature'].nunique()} temperatures x "
                f"{cells['density'].nunique()} densities, {self.study.cells['dense_seed'].nunique()} dense seeds"
                f"{missing}; mc_threshold {self.mc_threshold:g}, cka_eps {self.cka_eps:g}, "
                f"confidence {self.confidence:g}>")

    # The questions, each with the study's own thresholds and keyword arguments only; the
    # `regimes` commands call exactly these.
    @property
    def criterion(self) -> str:
        """The criterion this study is answered by: study.criterion, else val with a validation split, else regime."""
        config = self.study.config
        if config is not None and config.study.criterion is not None:
            return config.study.criterion
        return "val" if has_validation(self.cells) else "regime"

    def select(self, *, density: float, by: str | None = None) -> dict:
        """Return the model to prune at `density` by `by`, default the study's criterion (`advice.select_model`)."""
        return select_model(self.cells, density=density, by=by or self.criterion)

    def advise(self, *, density: float, temperature: float) -> dict:
        """Return the regime of one cell and which way to move the temperature (`analysis.advice.advise`)."""
        return advise(self.cells, density=density, temperature=temperature)

    def recommend_rho(self, *, density: float, by: str | None = None) -> dict:
        """Return the SAM rho to train with before pruning to `density` (default: the study's criterion)."""
        return recommend_rho(self.cells, density=density, mc_threshold=self.mc_threshold, cka_eps=self.cka_eps,
                             confidence=self.confidence, by=by or self.criterion)

    def validate(self, *, by: str | None = None, predict_from: "ClassifiedStudy | None" = None) -> dict:
        """Return the advice checked against the study's accuracies, select's regrets per criterion, and the spectra.

        {"advice": `validate_advice`, "select": {criterion: `select_regrets`}, "missing_cells": n,
        "spectra": {"correlations": `analysis.spectra.rank_correlations`, "predictions": Regime I
        predicted from each dense metric by a threshold fitted on `predict_from`
        (`analysis.spectra.predict_regime_one`; [] without it), "trained_on": its name}};
        `by` keeps one criterion (default: every criterion the study can answer by).
        """
        if by is not None:
            require_criterion(self.cells, by)
            regrets = {by: select_regrets(self.cells, by=by)}
        else:
            regrets = criteria_regrets(self.cells)
        spectra = {"correlations": rank_correlations(self.study.cells, self.cells) if has_spectra(self.study.cells)
                   else [], "predictions": [], "trained_on": predict_from.name if predict_from else ""}
        if predict_from is not None:
            spectra["predictions"] = [predict_regime_one((predict_from.study.cells, predict_from.cells),
                                                         (self.study.cells, self.cells), metric=m)
                                      for m in DENSE_METRICS]
        return {"advice": validate_advice(self.cells), "select": regrets, "missing_cells": self.study.missing,
                "spectra": spectra}

    @functools.cached_property
    def screen(self) -> "Study | None":
        """Return a screened study's screen (`STUDY/screen`, the short-budget grid) as read, or None."""
        return read_screen(self.study)

    def _map_cells(self) -> pd.DataFrame:
        # The full-budget cells, and a screened study's cells the screen ruled out, drawn as "out".
        if self.screen is None or self.screen.cells.empty:
            return self.cells
        return with_screen(self.cells, classify(aggregate(self.screen.cells), mc_threshold=self.mc_threshold,
                                                cka_eps=self.cka_eps, confidence=self.confidence))

    def regime_map(self) -> go.Figure:
        """Return the phase diagram of regimes (temperature x density), uncertain calls marked, screened-out faded."""
        return draw_regime_map(self._map_cells())

    def report(self, out: str | Path | None = None, *, margin_points: float = DEFAULT_MARGIN_POINTS) -> Path | str:
        """Write the HTML report and return where it is: `out`, or by default STUDY/report.html.

        A study in object storage gets its report beside it (written locally, then uploaded): the
        URI is returned.
        """
        if out is None and is_uri(self.study.path):
            with tempfile.TemporaryDirectory() as folder:
                local = self.report(Path(folder) / "report.html", margin_points=margin_points)
                beside = join(self.study.path, "report.html")
                write_bytes(beside, Path(local).read_bytes())
            return beside
        out = Path(out) if out is not None else Path(self.study.path) / "report.html"
        screen_rows = self.screen.cells if self.screen is not None else None
        done, missing = len(self.study.cells), self.study.missing
        partial = (f"{done} of {done + missing} owed cells reported (the study is running, unfinished or damaged); "
                   "the map and the answers use the cells present") if missing else None
        return write_report(self.cells, self.study.config, out, title=self.name, partial=partial,
                            criterion=self.criterion,
                            pruned_layers=layers_of(self.study.cells),
                            potential=prune_potential(self.study.cells, margin_points=margin_points),
                            per_seed=self.study.cells, map_cells=self._map_cells(), screen_rows=screen_rows)


def open_study(path, *, mc_threshold: float | None = None, cka_eps: float | None = None,
               confidence: float | None = None) -> ClassifiedStudy:
    """Return the study at `path` read, aggregated and classified with its own thresholds unless overridden.

    Args:
        path: the study directory (storage/name), a Tune-supported URI, or Ray Tune's own view of
            it: an `ExperimentAnalysis` or a `ResultGrid` (their `experiment_path` is read).
        mc_threshold: Regime I below this mc; None: the study's metrics.mc_threshold.
        cka_eps: II-B within this CKA of the density's best; None: the study's metrics.cka_eps.
        confidence: standard errors for a confident call; None: the study's metrics.confidence
            (a study planned before that setting existed is read without it, as then: 0). A study
            that added seeds (seeds.max_seeds) spends it over its looks (`contract.seeds`).

    Raises:
        StudyReadError: not a study, no cells reported yet, or no thresholds saved and none given.
    """
    path = getattr(path, "experiment_path", path)  # ExperimentAnalysis, ResultGrid: no Ray import needed
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
    config = study.config
    if config is not None:  # seeds added after looking (seeds.max_seeds): the confidence spent over the looks
        conf = study_confidence(config, float(conf))
    margin = config.seeds.margin if config is not None else 0.0
    cells = classify(aggregate(study.cells), mc_threshold=float(tau), cka_eps=float(eps), confidence=float(conf),
                     margin=margin)
    return ClassifiedStudy(study, cells, float(tau), float(eps), float(conf))
