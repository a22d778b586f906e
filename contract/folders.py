"""A study's folders as Tune names them: the one place that knows Tune's layout (no Ray, no torch).

A study folder is a Tune experiment: `experiment_state-*.json` (Tune's index), one folder per
trial holding `params.json` (the config the trial received) and `result.json` (one JSON row per
report), and the repairs (`repair-1`, `repair-2`, ...: supplementary experiments inside the study
folder that compute cells the first can no longer, `study.run.launch`). Everything else reads a
study's trials through these functions: the launcher (resume, repair, the searcher's view of a
study whose Tune state is lost), the readers (`analysis.load`, `contract.results`) and the
command line's checks. Local folders and object storage alike (`contract.store`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from contract.store import Where, is_file, is_uri, join, name_of, read_bytes, subfolders

PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
TUNE_STATE = "experiment_state-*.json"
# Why a trial's process ended before Tune could hear it (a hang, memory): one JSON line per fault,
# {"fault": "hang" | "memory", "message": ..., "time": unix seconds}, written by the trial itself.
FAULTS_FILE = "regimes_faults.jsonl"
REPAIR_PREFIX = "repair-"
_REPAIR = re.compile(rf"^{REPAIR_PREFIX}(\d+)$")
_TRIAL_PREFIX = "run_trial_"  # Tune names a trial's folder after the trainable: run_trial_<experiment>_<index>_...


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
        return sorted(p.parent for p in Path(experiment).glob(f"*/{PARAMS_FILE}"))
    return [folder for folder in subfolders(experiment) if is_file(join(folder, PARAMS_FILE))]


def experiments(study: Where) -> list[Where]:
    """Return the study's Tune experiments: its own folder, then its repairs."""
    return [study if is_uri(study) else Path(study), *repair_folders(study)]


def read_result_lines(trial_folder: Where) -> tuple[list[dict], list[int]]:
    """Return the rows of `trial_folder`/result.json and the numbers (from 1) of its unreadable lines.

    A line that is not UTF-8, not JSON or not a JSON object is left out and its number returned;
    a missing file is no rows. The folder may be local or in object storage (`contract.store`).
    """
    data = read_bytes(join(trial_folder, RESULT_FILE))
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




def trial_params(trial_folder: Where) -> dict | None:
    """Return the config a trial received (its `params.json`), None where it is missing or unreadable."""
    try:
        params = json.loads(read_bytes(join(trial_folder, PARAMS_FILE)) or b"")
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def trial_id(trial_folder: Where) -> str:
    """Return Tune's trial id from the trial's folder name (`run_trial_<experiment>_<index>_...`), else the name."""
    name = name_of(trial_folder)
    return "_".join(name.split("_")[2:4]) if name.startswith(_TRIAL_PREFIX) else name


def trials_params(study: Where) -> list[dict]:
    """Return the readable `params.json` of every trial of the study, its own experiment's and its repairs'."""
    found = (trial_params(folder) for experiment in experiments(study) for folder in trial_folders(experiment))
    return [params for params in found if params is not None]


def reported_rows(study: Where):
    """Yield every readable row the study's trial folders report, its own experiment's and its repairs'."""
    for experiment in experiments(study):
        for folder in trial_folders(experiment):
            yield from read_result_lines(folder)[0]


def has_tune_state(folder: Where) -> bool:
    """Return whether a local folder holds a Tune experiment's index (`experiment_state-*.json`)."""
    return not is_uri(folder) and any(Path(folder).glob(TUNE_STATE))


def may_hold_results(study: Where) -> bool:
    """Return whether a study may hold a reported row: a local trial folder with result.json; storage is not listed."""
    return is_uri(study) or any(Path(study).glob(f"*/{RESULT_FILE}"))
