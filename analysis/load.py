"""Read a study (a Ray Tune experiment directory or URI) into tidy tables; no running cluster needed.

Completeness is judged from the rows themselves (densities reported vs densities configured),
never from Tune's trial status: after an interrupted run Tune marks unfinished trials terminated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from contract.cells import finished_cells
from contract.config import StudyConfig
from contract.store import is_uri
from contract.folders import (TUNE_STATE, has_tune_state, read_fault_notes, read_result_lines, repair_folders,
                              trial_folders, trial_id, trial_params)
from contract.results import owed_cells
from contract.screen import SCREEN_FOLDER
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
            complete, status (Tune's), failures, seconds (wall time reported so far), why (the last
            fault the trial noted before its process ended: a hang, memory; "" for none).
        config: the study config the trials received (`contract.saved.read_saved_config`), or
            None when no trial has one.
        config_dropped: keys of the saved config this version could not read (a study written
            by another version), each replaced by its default.
        skipped: result lines that could not be read (not UTF-8, or not JSON), one
            "trial <id> result.json line <n>" each; their cells are not in `cells`.
        tune_state: "" when Tune's experiment state was read; else why not, and the study was
            read from its trial folders (Tune's status and failure counts are then unknown).
        missing: owed cells (its grid, or the trials a search started) that no readable row
            holds: a deleted trial folder, a damaged result file; `regimes run` computes them.
    """

    path: str
    cells: pd.DataFrame
    trials: pd.DataFrame
    config: StudyConfig | None
    config_dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    tune_state: str = ""
    missing: int = 0


def read_study(path: str | Path) -> Study:
    """Return the cells, trials and config of the study at `path` (local directory or Tune-supported URI).

    A study whose Tune experiment state cannot be read (cut short, deleted) is read from its trial
    folders, with one warning line; `Study.tune_state` says why. The cells its repair experiments
    computed (`contract.results`) are read with its own: one row per cell, one trial row per
    (temperature, dense seed).

    Raises:
        StudyReadError: neither a Tune experiment state nor trial folders there.
    """
    path = str(path)
    if "://" not in path:
        local = Path(path).expanduser().resolve()
        if local.is_file():
            raise StudyReadError(f"{path} is a file, not a study folder; give the study directory (storage/name), "
                                 "e.g. studies/demo")
        if not local.is_dir():
            raise StudyReadError(f"{path}: no such directory; give the study directory (storage/name)"
                                 f"{_made_by(local.name)}")
        path = str(local)
    repairs = repair_folders(path)
    # A study whose own experiment holds nothing readable (a disk that filled before any trial
    # folder was written) is still a study when its repairs hold the cells.
    trials, damaged = _tune_trials(path, required=not repairs)
    for repair in repairs:
        trials += _tune_trials(str(repair), required=False)[0]
    frames, trial_rows, config, dropped, skipped = [], [], None, [], []
    for trial in trials:
        if config is None and isinstance(trial.config.get("study_config"), dict):
            config, dropped = read_saved_config(trial.config["study_config"])
        frame = trial.frame
        if frame is None or frame.empty:
            frame, bad = _read_result_lines(trial.path)
            skipped += [f"trial {trial.trial_id} result.json line {n}" for n in bad]
        rows = finished_cells(frame)
        trial_rows.append({"trial_id": trial.trial_id, "temperature": trial.config.get("temperature"),
                           "dense_seed": trial.config.get("dense_seed"), "status": trial.status,
                           "failures": trial.failures, "seconds": _seconds(rows), "why": _why(trial.path)})
        if len(rows):
            frames.append(rows.assign(trial_id=trial.trial_id))
    densities = list(config.pruning.densities) if config is not None else []
    cells = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=row_fields() + ["trial_id"])
    cells = cells.drop_duplicates(subset=["temperature", "dense_seed", "density"], keep="first", ignore_index=True)
    # A screened study's trials owe only the densities its screen kept (contract.screen).
    owes = owed_cells(config, path) if config is not None and config.study.screen_epochs else {}
    table = _trial_table(trial_rows, cells, {trial: len(d) for trial, d in owes.items()}, len(densities))
    done = {(r.temperature, r.dense_seed): r.complete for r in table.itertuples()} if len(table) else {}
    cells["complete"] = [bool(done.get((r.temperature, r.dense_seed), False)) for r in cells.itertuples()]
    if skipped:
        logger.warning("%s: skipped %d unreadable result line%s (not UTF-8 or not JSON: %s); their cells are not "
                       "counted", path, len(skipped), "s" * (len(skipped) > 1), ", ".join(skipped[:3]) +
                       (", ..." if len(skipped) > 3 else ""))
    missing = _missing(config, path, cells)
    return Study(path, cells, table, config, dropped, skipped, damaged, missing)


def read_screen(study: Study) -> Study | None:
    """Return a screened study's screen (`STUDY/screen`, `contract.screen`) as read, or None (no screen, unreadable)."""
    config = study.config
    folder = Path(study.path) / SCREEN_FOLDER
    if config is None or config.study.screen_epochs is None or not folder.is_dir():
        return None
    try:
        return read_study(folder)
    except StudyReadError:
        return None


def _seconds(rows: pd.DataFrame) -> float:
    # The wall time a trial reported: its cells and its dense training (absent from rows that lack it).
    if not len(rows):
        return 0.0
    return float(rows["seconds"].sum() + (rows["seconds_dense"].sum() if "seconds_dense" in rows else 0.0))


def _trial_table(trial_rows: list[dict], cells: pd.DataFrame, totals: dict, every: int) -> pd.DataFrame:
    # One row per (temperature, dense seed): its Tune trial and any repair of it, merged; the
    # first trial's id and status, the failures and seconds of all.
    if not trial_rows:
        return pd.DataFrame()
    trials = pd.DataFrame(trial_rows)
    counts = cells.groupby(["temperature", "dense_seed"])["density"].nunique() if len(cells) else {}
    merged = []
    for (temperature, seed), group in trials.groupby(["temperature", "dense_seed"], sort=True):
        done = int(counts.get((temperature, seed), 0)) if len(cells) else 0
        total = totals.get((float(temperature), int(seed)), every)
        merged.append({"trial_id": group["trial_id"].iloc[0], "temperature": temperature, "dense_seed": seed,
                       "densities_done": done, "densities_total": total, "complete": bool(total) and done >= total,
                       "status": group["status"].iloc[0] + (f" +{len(group) - 1} repair" if len(group) > 1 else ""),
                       "failures": int(group["failures"].sum()), "seconds": float(group["seconds"].sum()),
                       "why": next((w for w in reversed(list(group["why"])) if w), "")})
    return pd.DataFrame(merged)


def _made_by(name: str) -> str:
    # Which shipped config makes a study of this name (configs/ beside the package, where it is).
    configs = Path(__file__).resolve().parents[1] / "configs"
    for config in sorted(configs.glob("*.yaml")) if configs.is_dir() else []:
        try:
            made = yaml.safe_load(config.read_text()).get("study", {}).get("name")
        except (yaml.YAMLError, AttributeError, OSError):
            continue
        if made == name:
            return f"; `regimes run configs/{config.name}` makes it"
    return ""


def _why(trial_path: str) -> str:
    # The last fault a trial noted before its process ended (a hang, memory), "" for none; local folders only.
    notes = [] if is_uri(trial_path) else read_fault_notes(trial_path)
    return notes[-1]["message"] if notes else ""


def _missing(config: StudyConfig | None, path: str, cells: pd.DataFrame) -> int:
    # Owed cells (contract.results) that no readable row holds, on a disk or in object storage.
    if config is None:
        return 0
    have = {(float(r.temperature), int(r.dense_seed), float(r.density)) for r in cells.itertuples()}
    return sum((t, s, d) not in have for (t, s), owes in owed_cells(config, path).items() for d in owes)


@dataclass
class _Trial:
    # What the reader needs of one trial, from Tune's experiment state or from the trial's folder.
    trial_id: str
    config: dict
    path: str
    status: str
    failures: int
    frame: pd.DataFrame | None


def _tune_trials(path: str, *, required: bool = True) -> tuple[list[_Trial], str]:
    # The trials Tune's experiment state lists; when it cannot be read (cut short, deleted) and the
    # trial folders are there, those, with the reason: results are never lost to a damaged index.
    # An experiment that need not hold trials (a repair, or a study with repairs) may hold none.
    if not is_uri(path) and not has_tune_state(path):  # no Ray needed to say so
        trials = _folder_trials(path)
        if not trials and not required:
            return [], f"Tune could not read the experiment state (no {TUNE_STATE})"
        if not trials:
            raise StudyReadError(f"{path}: not a study (no {TUNE_STATE}); give the directory that "
                                 "`regimes run` printed, or use `regimes ls ROOT` to find studies")
        return _from_folders(path, trials, f"Tune could not read the experiment state (no {TUNE_STATE})")
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
        if not trials and not required:
            return [], reason
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
    # Each trial folder Tune wrote holds its config (params.json) beside its rows.
    if is_uri(path):
        return []
    configs = ((folder, trial_params(folder)) for folder in trial_folders(path))
    return [_Trial(trial_id(folder), config, str(folder), "UNKNOWN", 0, None) for folder, config in configs
            if config is not None]


def load_study(path: str | Path) -> pd.DataFrame:
    """Return one row per (dense seed, temperature, density) cell of the study at `path`."""
    cells = read_study(path).cells
    return cells.sort_values(["temperature", "dense_seed", "density"], ignore_index=True)


def _read_result_lines(trial_path: str) -> tuple[pd.DataFrame | None, list[int]]:
    # Tune drops a trial whose result.json has a broken line (a run killed mid-write, a damaged
    # byte); the other lines are still good cells, so read them one by one (contract.results).
    if is_uri(trial_path):
        return None, []
    rows, bad = read_result_lines(trial_path)
    return (pd.DataFrame(rows) if rows else None), bad
