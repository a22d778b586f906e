"""A screened study: every cell at a short retraining budget, then the full budget only where the answer is decided.

Design. Hyperband and ASHA stop trials early; here a trial is one dense model and every
density, and what is cut short is the retraining of each cell, so the screen is a second wave of
trials rather than a scheduler. Two Tune experiments, run one after the other by `run_screened`:

1. **The screen** (`STUDY/screen/`, `contract.screen.screen_config`): the whole grid, or the
   temperatures a search chooses and the seeds a seed rule adds (study.search, seeds.max_seeds:
   they choose by the screen's short-budget cells), each cell retrained for `study.screen_epochs`
   epochs (milestones scaled), LMC and CKA measured as usual. It is a study of its own: it
   resumes, repairs and is read like any other.
2. **The full stage** (`STUDY/` itself): once the screen has finished, the caller's rule
   (`analysis.screen.owes`: per target density, the temperatures the screen cannot rule out by
   the study's criterion within its standard errors, Regime I colder than Regime II out) decides
   what the full budget is spent on, at the (temperature, seed) trials the screen trained; the
   decision is recorded once in the study's manifest
   (`owes`), so a resumed run never changes it. Tune runs those points (a `PointsSearcher`), each
   trial computing only the densities it owes, at the full `retrain.epochs`.

The dense models are trained once: the screen's trials leave them in `STUDY/dense_cache/` and
the full stage's trials read them back (`trainables.trial.cached_dense`), so the two budgets
prune the same dense models. Ctrl-C in either stage and the same command resume where it
stopped. Every reader of `STUDY` answers from full-budget cells; the screen is read from
`STUDY/screen` (the report draws it faded). Object storage is refused: the manifest and the
cache are files next to the study.
"""

from __future__ import annotations

import sys
from typing import Callable, TextIO

import pandas as pd

from contract.config import StudyConfig
from contract.results import read_manifest, record_owes
from contract.screen import DENSE_CACHE, screen_config
from study.config import StudyError, is_uri, study_path
from study.run.launch import Outcome, run_study

OwesRule = Callable[[pd.DataFrame], dict]


def run_screened(config: StudyConfig, *, owes_rule: OwesRule, read_cells: Callable[[str], pd.DataFrame],
                 address: str | None = None, verbose: int = 0, out: TextIO | None = None,
                 rule=None, seed_rule=None) -> tuple[Outcome, Outcome]:
    """Run (or resume) the screen, then the full stage; return (screen outcome, full stage outcome).

    While the screen is unfinished the full stage's outcome is an unfinished empty one.

    Args:
        config: the screened study's config (study.screen_epochs set).
        owes_rule: the screen's per-seed cells -> {(temperature, seed): [densities]} the full stage owes
            (`analysis.screen.owes_for(config)`; `regimes run` passes it).
        read_cells: a study folder -> its per-seed cells (`analysis.read_study(...).cells`).
        address: as for `study.run.launch.run_study`.
        verbose: as for `study.run.launch.run_study`.
        out: as for `study.run.launch.run_study`.
        rule: a searched screen's rule (study.search: regimes), as for `study.run.launch.run_study`.
        seed_rule: the screen's seed rule (seeds.max_seeds), as for `study.run.launch.run_study`.
    """
    path = study_path(config)
    if is_uri(path):
        raise StudyError("study.screen_epochs: a screened study keeps its decision and its dense models next to "
                         "the study; use a local or shared storage path, or remove the screen")
    cache = f"{path}/{DENSE_CACHE}"
    screen = run_study(screen_config(config, path), address=address, verbose=verbose, out=out, dense_cache=cache,
                       rule=rule, seed_rule=seed_rule)
    if not screen.complete:
        return screen, Outcome(path, 0, 0, 0, search_unfinished=True)
    recorded = read_manifest(path).get("owes")
    if recorded is None:
        owes = owes_rule(read_cells(screen.path))
        record_owes(path, owes)
    else:
        owes = {(float(t), int(s)): [float(d) for d in densities] for t, s, densities in recorded}
    points = [{"temperature": t, "dense_seed": s, "densities": densities} for (t, s), densities in owes.items()]
    cells = sum(len(p["densities"]) for p in points)
    (out or sys.stderr).write(f"screen done: {cells} of its {screen.cells_total} cells kept for the full budget "
                              f"({config.retrain.epochs} retraining epochs against the screen's "
                              f"{config.study.screen_epochs})\n")
    if not points:  # every cell of the screen diverged: nothing to retrain
        return screen, Outcome(path, 0, 0, 0)
    full = run_study(config, address=address, verbose=verbose, out=out, points=points, dense_cache=cache)
    return screen, full
