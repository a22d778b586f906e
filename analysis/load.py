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
        tune_state: "" when Tune's experiment state was read; else why not, and the study was
            read from its trial folders (Tune's status and failure counts are then unknown).
    """

    path: str
    cells: pd.DataFrame
    trials: pd.DataFrame
    config: StudyConfig | None
    config_dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    tune_state: str = ""


def read_study(path: str | Path) -> Study:
    """Return the cells, trials and config of the study at `path` (local directory or Tune-supported URI).

    A study whose Tune experiment state cannot be read (cut short, deleted) is read from its trial
    folders, with one warning line; `Study.tune_state` says why.

    Raises:
        StudyReadError: neither a Tune experiment state nor trial folders there.
    """
    path = str(path)
    if "://" not in path:
        local = Path(path).expanduser().resolve()
        if not local.is_dir():
            raise StudyReadError(f"{path}: no such directory; give the study directory (storage/name)")
        path = str(local)
    trials, damaged = _tune_trials(path)
    frames, trial_rows, config, dropped, skipped = [], [], None, [], []
    for trial in trials:
        if config is None and isinstance(trial.config.get("study_config"), dict):
            config, dropped = read_saved_config(trial.config["study_config"])
        densities = list(config.pruning.densities) if config is not None else []
        frame = trial.frame
        if frame is None or frame.empty:
            frame, bad = _read_result_lines(trial.path)
            skipped += [f"trial {trial.trial_id} result.json line {n}" for n in bad]
        rows = finished_cells(frame)
        done = rows["density"].nunique() if len(rows) else 0
        complete = bool(densities) and done >= len(densities)
        trial_rows.append({"trial_id": trial.trial_id, "temperature": trial.config.get("temperature"),
                           "dense_seed": trial.config.get("dense_seed"), "densities_done": done,
                           "densities_total": len(densities), "complete": complete, "status": trial.status,
                           "failures": trial.failures,
                           "seconds": float(rows["seconds"].sum() + rows.get("seconds_dense", 0).sum())
                           if len(rows) else 0.0})
        if len(rows):
            frames.append(rows.assign(trial_id=trial.trial_id, complete=complete))
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=row_fields() + ["trial_id",
                                                                                                    "complete"])
    table = pd.DataFrame(trial_rows).sort_values(["temperature", "dense_seed"], ignore_index=True) \
        if trial_rows else pd.DataFrame()
    if skipped:
        logger.warning("%s: skipped %d unreadable result line%s (not UTF-8 or not JSON: %s); their cells are not "
                       "counted", path, len(skipped), "s" * (len(skipped) > 1), ", ".join(skipped[:3]) +
                       (", ..." if len(skipped) > 3 else ""))
    return Study(path, cells, table, config, dropped, skipped, damaged)


@dataclass
class _Trial:
    # What the reader needs of one trial, from Tune's experiment state or from the trial's folder.
    trial_id: str
    config: dict
    path: str
    status: str
    failures: int
    frame: pd.DataFrame | None


def _tune_trials(path: str) -> tuple[list[_Trial], str]:
    # The trials Tune's experiment state lists; when it cannot be read (cut short, deleted) and the
    # trial folders are there, those, with the reason: results are never lost to a damaged index.
    if "://" not in path and not list(Path(path).glob("experiment_state-*.json")):  # no Ray needed to say so
        trials = _folder_trials(path)
        if not trials:
            raise StudyReadError(f"{path}: not a study (no experiment_state-*.json); give the directory that "
                                 "`regimes run` printed, or use `regimes ls ROOT` to find studies")
        return _from_folders(path, trials, "Tune could not read the experiment state (no experiment_state-*.json)")
    from ray.tune import ExperimentAnalysis  # the only Ray import under analysis/

    # Trials that have not reported yet make Tune log a warning; for a running study that is normal
    # and handled by the caller (they show as 0 densities done).
    tune_logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = tune_logger.level
    tune_logger.setLevel(logging.ERROR)
    try:
        analysis = ExperimentAnalysis(path)
    except Exception as err:  # Tune raises several types for unreadable state
        trials = _folder_trials(path)
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = f"Tune could not read the experiment state ({why})"
        if not trials:
            raise StudyReadError(f"{path}: {reason}") from None
        return _from_folders(path, trials, reason)
    finally:
        tune_logger.setLevel(level)
    frames = analysis.trial_dataframes  # keyed by trial id in Ray 2.60
    return [_Trial(t.trial_id, t.config, t.path, t.status, int(t.num_failures), frames.get(t.trial_id))
            for t in analysis.trials], ""


def _from_folders(path: str, trials: list[_Trial], reason: str) -> tuple[list[_Trial], str]:
    logger.warning("%s: %s; read from its %d trial folders instead (`regimes run` cannot resume it as it is)",
                   path, reason, len(trials))
    return trials, reason


def _folder_trials(path: str) -> list[_Trial]:
    # Each trial folder Tune wrote holds params.json (its config) beside result.json.
    if "://" in path:
        return []
    trials = []
    for params in sorted(Path(path).glob("*/params.json")):
        try:
            config = json.loads(params.read_bytes())
        except ValueError:
            continue
        parts = params.parent.name.split("_")  # run_trial_<experiment>_<index>_...
        trial_id = "_".join(parts[2:4]) if params.parent.name.startswith("run_trial_") else params.parent.name
        if isinstance(config, dict):
            trials.append(_Trial(trial_id, config, str(params.parent), "UNKNOWN", 0, None))
    return trials


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
