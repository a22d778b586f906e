"""Where a study lives and how big its grid is: plain functions of the config, no Ray.

The CLI uses them before any Ray import (naming a `--fresh` study, checking the storage).
"""

from __future__ import annotations

from pathlib import Path

from contract.config import StudyConfig
from contract.store import is_uri, join


def study_path(config: StudyConfig) -> str:
    """Return where the study lives: storage/name (a URI keeps its query string at the end)."""
    return str(join(config.study.storage, config.study.name))


def fresh_name(config: StudyConfig) -> StudyConfig:
    """Return `config` renamed to the first name-N whose directory does not exist yet (nothing is deleted)."""
    base, n = config.study.name, 2
    renamed = config
    while not is_uri(config.study.storage) and Path(study_path(renamed)).exists():
        renamed = config.model_copy(update={"study": config.study.model_copy(update={"name": f"{base}-{n}"})})
        n += 1
    return renamed


def trial_budget(config: StudyConfig) -> int:
    """Return how many temperatures the study may train: all of them, or a search's study.max_trials."""
    temperatures = len(config.study.temperatures)
    return min(config.study.max_trials or temperatures, temperatures) if config.study.search != "grid" \
        else temperatures


def cells_total(config: StudyConfig) -> int:
    """Return the number of cells of the study's grid, or the most a search may train (x dense seeds x densities).

    A study that adds seeds (seeds.max_seeds) may train each of its temperatures with that many.
    """
    seeds = max(len(config.study.dense_seeds), config.seeds.max_seeds or 0)
    return trial_budget(config) * seeds * len(config.pruning.densities)
