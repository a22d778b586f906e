"""A study's cells as its own files hold them: what it owes, what its trial folders report; no Ray.

The launcher and the readers agree here on three things, so that no row is lost to a damaged or
deleted Tune file:

- **what a study owes**: every (temperature, dense seed, density) of its grid, or, for a search,
  of every trial that has reported (`MANIFEST_FILE`, which the searcher writes as it goes);
- **what it has reported**: the rows of every `result.json` under the study, read line by line
  (a line that is not UTF-8 JSON is skipped and named, never a crash);
- **where repairs go**: cells a Tune experiment will never compute again (a deleted trial folder,
  a corrupt result file, an experiment state that cannot be read) are computed by a supplementary
  Tune experiment inside the study folder, `repair-1`, `repair-2`, ... (`study.launch`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

from contract.config import StudyConfig
from contract.store import Where, is_file, is_uri, join, name_of, read_bytes, subfolders

MANIFEST_FILE = "regimes_manifest.json"
# Why a trial's process ended before Tune could hear it (a hang, memory): one JSON line per fault,
# {"fault": "hang" | "memory", "message": ..., "time": unix seconds}, written by the trial itself.
FAULTS_FILE = "regimes_faults.jsonl"
REPAIR_PREFIX = "repair-"
_REPAIR = re.compile(rf"^{REPAIR_PREFIX}(\d+)$")

Cell = tuple[float, int, float]  # (temperature, dense_seed, density)


def read_result_lines(trial_folder: Where) -> tuple[list[dict], list[int]]:
    """Return the rows of `trial_folder`/result.json and the numbers (from 1) of its unreadable lines.

    A line that is not UTF-8, not JSON or not a JSON object is left out and its number returned;
    a missing file is no rows. The folder may be local or in object storage (`contract.store`).
    """
    data = read_bytes(join(trial_folder, "result.json"))
    if data is None:
        return [], []
    rows, bad = [], []
    for number, line in enumerate(data.splitlines(), start=1):
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
    return rows, bad


def read_fault_notes(trial_folder: str | Path) -> list[dict]:
    """Return the faults a trial noted in its folder (`FAULTS_FILE`), oldest first; unreadable lines left out."""
    file = Path(trial_folder) / FAULTS_FILE
    if not file.is_file():
        return []
    notes = []
    for line in file.read_bytes().splitlines():
        try:
            note = json.loads(line.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(note, dict) and isinstance(note.get("message"), str):
            notes.append(note)
    return notes


def repair_folders(study: Where) -> list[Where]:
    """Return the study's repair experiments (`repair-N`), in the order they were made."""
    found = [(int(m.group(1)), p) for p in subfolders(study) if (m := _REPAIR.match(name_of(p)))]
    return [p for _, p in sorted(found)]


def study_of_experiment(experiment: str | Path) -> Path:
    """Return the study folder of one of its Tune experiments: the experiment itself, or a repair's parent."""
    experiment = Path(experiment)
    return experiment.parent if _REPAIR.match(experiment.name) else experiment


def next_repair_name(study: Where) -> str:
    """Return the name of the study's next repair experiment."""
    made = repair_folders(study)
    return f"{REPAIR_PREFIX}{int(_REPAIR.match(name_of(made[-1])).group(1)) + 1 if made else 1}"


def trial_folders(experiment: Where) -> list[Where]:
    """Return the trial folders Tune wrote in one experiment (each holds params.json)."""
    if not is_uri(experiment):
        return sorted(p.parent for p in Path(experiment).glob("*/params.json"))
    return [folder for folder in subfolders(experiment) if is_file(join(folder, "params.json"))]


def experiments(study: Where) -> list[Where]:
    """Return the study's Tune experiments: its own folder, then its repairs."""
    return [study if is_uri(study) else Path(study), *repair_folders(study)]


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
    counts = Counter()
    for experiment in experiments(study):
        for folder in trial_folders(experiment):
            counts.update(key for row in read_result_lines(folder)[0] if (key := cell_key(row)) is not None)
    return counts


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


def owed_trials(config: StudyConfig, study: Where) -> list[tuple[float, int]]:
    """Return the (temperature, dense seed) trials the study owes every density of.

    A grid owes its whole grid; a search (or a study that adds seeds) owes the trials it started:
    those its manifest lists and those whose folders are there.
    """
    if not config.chooses_trials:
        return [(float(t), int(s)) for t, s in itertools.product(config.study.temperatures, config.study.dense_seeds)]
    trials = [(float(t), int(s)) for t, s in read_manifest(study).get("trials", [])]
    for experiment in experiments(study):
        for folder in trial_folders(experiment):
            try:
                params = json.loads(read_bytes(join(folder, "params.json")) or b"")
                trials.append((float(params["temperature"]), int(params["dense_seed"])))
            except (ValueError, KeyError, TypeError):
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
