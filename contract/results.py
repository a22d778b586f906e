"""A study's cells as its own files hold them: what it owes, what its trial folders report; no Ray.

The launcher and the readers agree here on three things, so that no row is lost to a damaged or
deleted Tune file:

- **what a study owes**: every (temperature, dense seed, density) of its grid, or, for a search,
  of every trial that has reported (`MANIFEST_FILE`, which the searcher writes as it goes,
  atomically: the trials it started, a screen's owed cells and, once Tune's experiment state
  could not be read back, why: from then on the owed cells are computed in repair experiments
  and the damaged state is never restored again);
- **what it has reported**: the rows of every `result.json` under the study, read line by line
  (a line that is not UTF-8 JSON is skipped and named, never a crash; `contract.folders`);
- **what is missing**: the owed cells no trial folder reports, which a repair computes
  (`contract.folders` says where repairs go).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

from contract.config import StudyConfig
from contract.folders import reported_rows, trials_params
from contract.store import Where, join, read_bytes, write_atomically

MANIFEST_FILE = "regimes_manifest.json"

Cell = tuple[float, int, float]  # (temperature, dense_seed, density)


def cell_key(row: dict) -> Cell | None:
    """Return a reported row's (temperature, dense_seed, density), None for a row that is not a cell."""
    try:
        return float(row["temperature"]), int(row["dense_seed"]), float(row["density"])
    except (KeyError, TypeError, ValueError):
        return None


def row_counts(study: Where) -> Counter:
    """Return how many readable rows each cell has in a study's trial folders (its own and its repairs').

    A trial that retried a density reports it again in the same file; the count says how often.
    """
    return Counter(key for row in reported_rows(study) if (key := cell_key(row)) is not None)


def reported_cells(study: Where) -> set[Cell]:
    """Return every cell a study's trial folders report, in its main experiment and its repairs."""
    return set(row_counts(study))


def read_manifest(study: Where) -> dict:
    """Return the study's manifest ({"trials": [[temperature, seed], ...], "tune_state_lost": reason}).

    A missing manifest is an empty one; a damaged one (a crash cannot leave one: it is written
    atomically) reads as empty too, and the searched trials it listed are then known from their
    folders only.
    """
    data = read_bytes(join(study, MANIFEST_FILE))
    try:
        manifest = json.loads(data) if data is not None else {}
    except ValueError:
        manifest = {}
    return manifest if isinstance(manifest, dict) else {}


def record_trial(study: Where, temperature: float, dense_seed: int) -> None:
    """Add a searched trial to the study's manifest (once)."""
    manifest = read_manifest(study)
    trials = [list(t) for t in manifest.get("trials", [])]
    if [float(temperature), int(dense_seed)] not in trials:
        trials.append([float(temperature), int(dense_seed)])
        _write_manifest(study, {**manifest, "trials": trials})


def record_owes(study: Where, owes: dict[tuple[float, int], list[float]]) -> None:
    """Record what a screened study's full stage owes, decided once from its finished screen (`contract.screen`)."""
    _write_manifest(study, {**read_manifest(study), "owes": [[float(t), int(s), [float(d) for d in densities]]
                                                     for (t, s), densities in owes.items()]})


def tune_state_lost(study: Where) -> str | None:
    """Return why the study's own Tune experiment state was given up, or None while it is in use."""
    return read_manifest(study).get("tune_state_lost")


def give_up_tune_state(study: Where, reason: str) -> None:
    """Record that the study's Tune experiment state cannot be read, and why (never restored again)."""
    _write_manifest(study, {**read_manifest(study), "tune_state_lost": reason})


def _write_manifest(study: Where, manifest: dict) -> None:
    Path(study).mkdir(parents=True, exist_ok=True)
    write_atomically(Path(study) / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())


def owed_trials(config: StudyConfig, study: Where) -> list[tuple[float, int]]:
    """Return the (temperature, dense seed) trials the study owes every density of.

    A grid owes its whole grid; a search (or a study that adds seeds) owes the trials it started:
    those its manifest lists and those whose folders are there.
    """
    if not config.chooses_trials:
        return [(float(t), int(s)) for t, s in itertools.product(config.study.temperatures, config.study.dense_seeds)]
    trials = [(float(t), int(s)) for t, s in read_manifest(study).get("trials", [])]
    for params in trials_params(study):
        try:
            trials.append((float(params["temperature"]), int(params["dense_seed"])))
        except (KeyError, TypeError, ValueError):
            continue
    return list(dict.fromkeys(trials))


def owed_cells(config: StudyConfig, study: Where) -> dict[tuple[float, int], list[float]]:
    """Return, per owed trial, the densities it owes: every density, or for a screened study those its screen kept.

    A screened study owes nothing before its screen has finished and recorded what it kept
    (`contract.screen`).
    """
    if config.study.screen_epochs is not None:
        return {(float(t), int(s)): [float(d) for d in densities]
                for t, s, densities in read_manifest(study).get("owes", [])}
    return {trial: [float(d) for d in config.pruning.densities] for trial in owed_trials(config, study)}


def missing_cells(config: StudyConfig, study: Where) -> dict[tuple[float, int], list[float]]:
    """Return, per owed trial with a cell no trial folder reports, the densities it still owes (in order)."""
    reported = reported_cells(study)
    missing = {}
    for (temperature, seed), owes in owed_cells(config, study).items():
        densities = [d for d in owes if (temperature, seed, d) not in reported]
        if densities:
            missing[(temperature, seed)] = densities
    return missing
