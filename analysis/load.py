"""Read a study (a Ray Tune experiment directory or URI) into tidy tables; no running cluster needed.

Completeness is judged from the rows themselves (densities reported vs densities configured),
never from Tune's trial status: after an interrupted run Tune marks unfinished trials terminated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from contract.cells import finished_cells
from contract.config import StudyConfig
from contract.saved import read_saved_config
from contract.row import row_fields

logger = logging.getLogger(__name__)


class StudyReadError(ValueError):
    """The path is not a readable study; the message says what was found instead."""


@dataclass
class Study:
    """A study read back from disk.

    Attributes:
        path: the experiment directory or URI.
        cells: one row per reported (trial, density): the trial's report keys plus trial_id, complete.
        trials: one row per trial: temperature, dense_seed, densities_done, densities_total,
            complete, status (Tune's), failures, seconds (wall time reported so far).
        config: the study config the trials received (`contract.saved.read_saved_config`), or
            None when no trial has one.
        config_dropped: keys of the saved config this version could not read (a study written
            by another version), each replaced by its default.
        skipped: result lines that could not be read (not UTF-8, or not JSON), one
            "trial <id> result.json line <n>" each; their cells are not in `cells`.
    """

    path: str
    cells: pd.DataFrame
    trials: pd.DataFrame
    config: StudyConfig | None
    config_dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_study(path: str | Path) -> Study:
    """Return the cells, trials and config of the study at `path` (local directory or Tune-supported URI).

    Raises:
        StudyReadError: no Tune experiment state there.
    """
    from ray.tune import ExperimentAnalysis  # the only Ray import under analysis/

    path = str(path)
    if "://" not in path:
        local = Path(path).expanduser().resolve()
        if not local.is_dir():
            raise StudyReadError(f"{path}: no such directory; give the study directory (storage/name)")
        if not list(local.glob("experiment_state-*.json")):
            raise StudyReadError(f"{path}: not a study (no experiment_state-*.json); give the directory that "
                                 "`regimes run` printed, or use `regimes ls ROOT` to find studies")
        path = str(local)
    # Trials that have not reported yet make Tune log a warning; for a running study that is normal
    # and handled below (they show as 0 densities done).
    tune_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = tune_logger.level
    tune_logger.setLevel(logging.ERROR)
    try:
        analysis = ExperimentAnalysis(path)
    except Exception as err:  # Tune raises several types for unreadable state
        raise StudyReadError(f"{path}: Tune could not read the experiment state ({err})") from None
    finally:
        tune_logger.setLevel(level)
    frames, trial_rows, config, dropped, skipped = [], [], None, [], []
    for trial in analysis.trials:
        if config is None and isinstance(trial.config.get("study_config"), dict):
            config, dropped = read_saved_config(trial.config["study_config"])
        densities = list(config.pruning.densities) if config is not None else []
        frame = analysis.trial_dataframes.get(trial.trial_id)  # keyed by trial id in Ray 2.60
        if frame is None or frame.empty:
            frame, bad = _read_result_lines(trial.path)
            skipped += [f"trial {trial.trial_id} result.json line {n}" for n in bad]
        rows = finished_cells(frame)
        done = rows["density"].nunique() if len(rows) else 0
        complete = bool(densities) and done >= len(densities)
        trial_rows.append({"trial_id": trial.trial_id, "temperature": trial.config.get("temperature"),
                           "dense_seed": trial.config.get("dense_seed"), "densities_done": done,
                           "densities_total": len(densities), "complete": complete, "status": trial.status,
                           "failures": int(trial.num_failures),
                           "seconds": float(rows["seconds"].sum() + rows.get("seconds_dense", 0).sum())
                           if len(rows) else 0.0})
        if len(rows):
            frames.append(rows.assign(trial_id=trial.trial_id, complete=complete))
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=row_fields() + ["trial_id",
                                                                                                    "complete"])
    trials = pd.DataFrame(trial_rows).sort_values(["temperature", "dense_seed"], ignore_index=True) \
        if trial_rows else pd.DataFrame()
    if skipped:
        logger.warning("%s: skipped %d unreadable result line%s (not UTF-8 or not JSON: %s); their cells are not "
                       "counted", path, len(skipped), "s" * (len(skipped) > 1), ", ".join(skipped[:3]) +
                       (", ..." if len(skipped) > 3 else ""))
    return Study(path, cells, trials, config, dropped, skipped)


def load_study(path: str | Path) -> pd.DataFrame:
    """Return one row per (dense seed, temperature, density) cell of the study at `path`."""
    cells = read_study(path).cells
    return cells.sort_values(["temperature", "dense_seed", "density"], ignore_index=True)


def _read_result_lines(trial_path: str) -> tuple[pd.DataFrame | None, list[int]]:
    # Tune drops a trial whose result.json has a broken line (a run killed mid-write, a damaged
    # byte); the other lines are still good cells, so read them one by one. Returns the rows and
    # the numbers (from 1) of the lines that are not UTF-8 JSON objects.
    if "://" in str(trial_path):
        return None, []
    file = Path(trial_path) / "result.json"
    if not file.is_file():
        return None, []
    rows, bad = [], []
    for number, line in enumerate(file.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
            bad.append(number)
            continue
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad.append(number)
    return (pd.DataFrame(rows) if rows else None), bad
