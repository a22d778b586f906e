"""Following studies from the command line: `regimes status` and `regimes ls`.

Both only read: Tune's files through `analysis.read_study`, and the lock file that tells a study
being run from one left unfinished.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from analysis import AdviceError, StudyReadError, open_study, read_study
from analysis.classify import map_lines
from analysis.cost import cost_line, study_compute
from analysis.uncertainty import pm
from study.cli.checks import looks_like_a_study
from study.run import lock
from contract.knobs import hot_to_cold, knob_words
from contract.store import name_of, subfolders
from study.config import is_uri

TABLE_COLUMNS = ["temperature", "dense_seed", "density", "status", "dense_test_acc", "test_acc", "val_acc", "lmc",
                 "cka", "seconds"]


def status(args: argparse.Namespace) -> int:
    """`regimes status STUDY [--watch SECONDS]`: each trial's densities done, state, failures and seconds."""
    if getattr(args, "watch", None):
        return watch(args.study, every=args.watch)
    show_status(args.study)
    return 0


def watch(path: str, *, every: float, rounds: int | None = None, pause=time.sleep) -> int:
    """Redraw the study's status and its regime map so far every `every` seconds, until it is complete or Ctrl-C.

    On a terminal the screen is cleared before each redraw; elsewhere (a log) the redraws follow
    one another. `rounds` stops after that many redraws (tests).
    """
    drawn = 0
    try:
        while True:
            if sys.stdout.isatty():
                print("\x1b[H\x1b[2J", end="")
            print(f"{time.strftime('%H:%M:%S')}  {path}  (every {every:g} s; Ctrl-C stops watching, not the study)")
            if show_status(path, with_map=True):
                return 0
            drawn += 1
            if rounds is not None and drawn >= rounds:
                return 0
            pause(every)
    except KeyboardInterrupt:
        return 0


def show_status(path: str, *, with_map: bool = False) -> bool:
    """Print the status of the study at `path` (and its regime map so far); return whether it is complete."""
    study = read_study(path)
    if study.trials.empty:
        print(f"{path}: no trials yet")
        return False
    trials = study.trials.assign(done=lambda t: t.densities_done.astype(str) + "/" + t.densities_total.astype(str),
                                 state=lambda t: t.complete.map({True: "complete", False: "unfinished"}))
    columns = ["temperature", "dense_seed", "done", "state", "failures", "seconds"]
    # Temperatures with their own digits (lr 0.005 is not 0.0), seconds to a tenth.
    print(trials[columns].to_string(index=False, formatters={"temperature": "{:g}".format,
                                                               "seconds": "{:.1f}".format}))
    done, total = len(study.cells), len(study.cells) + study.missing if study.config is not None else \
        int(trials.densities_total.sum())
    for trial in trials[trials.why != ""].itertuples() if "why" in trials else []:
        print(f"T={trial.temperature:g} seed={trial.dense_seed}: failed {trial.failures}x, last: {trial.why}")
    if len(study.cells):
        print(cost_line(study_compute(study)))
    print(f"cells {done}/{total}; {int(trials.complete.sum())}/{len(trials)} trials complete")
    if with_map and len(study.cells) and study.config is not None:
        _print_map(path, study.config)
    return done >= total and bool(trials.complete.all())


def _print_map(path: str, config) -> None:
    # The regime map of the cells reported so far; "." where a cell is still owed.
    try:
        cells = open_study(path).cells
    except (StudyReadError, AdviceError) as err:
        print(f"no regime map yet: {err}")
        return
    temperatures = sorted(set(config.study.temperatures) | set(cells["temperature"]))
    for line in map_lines(cells, knob=config.study.knob, temperatures=temperatures,
                          densities=list(config.pruning.densities)):
        print(line)


def ls(args: argparse.Namespace) -> int:
    """`regimes ls ROOT`: every study under a storage root, its cells done and its state."""
    if is_uri(args.root):
        where = [(name_of(folder), str(folder)) for folder in subfolders(args.root)]
    else:
        root = Path(args.root)
        if root.is_file():
            raise StudyReadError(f"{args.root} is a file, not a storage root; give the folder that holds your studies")
        if not root.is_dir():
            raise StudyReadError(f"{args.root}: no such directory; give the storage root that holds your studies")
        where = [(p.name, str(p)) for p in sorted(p for p in root.iterdir() if p.is_dir())]
    found = False
    for name, folder in where:
        try:
            study = read_study(folder)
        except StudyReadError as err:
            if looks_like_a_study(folder):  # its own files are there: damaged, not absent
                found = True
                print(f"{name:<30} damaged: {str(err).removeprefix(folder + ': ')}")
            continue
        found, trials = True, study.trials
        done = len(study.cells)
        total = done + study.missing if study.config is not None else \
            int(trials.densities_total.sum()) if len(trials) else 0
        owner = lock.running(folder) if not is_uri(folder) else None
        state = "complete" if len(trials) and trials.complete.all() and not study.missing else \
            f"running (pid {owner.get('pid')} on {owner.get('host')})" if owner else "unfinished"
        damaged = "; damaged: " + study.tune_state if study.tune_state else ""
        print(f"{name:<30} cells {done}/{total:<6} {state}{damaged}")
    if not found:
        print(f"no studies under {args.root}")
    return 0


def print_cells(path: str) -> None:
    """Print the study's per-seed cells, the table `regimes run` ends with."""
    cells = read_study(path).cells
    if cells.empty:
        print("no cells reported yet")
        return
    shown = [c for c in TABLE_COLUMNS if c in cells.columns and not (c == "val_acc" and cells[c].isna().all())]
    table = cells[shown].sort_values(["temperature", "dense_seed", "density"])
    with pd.option_context("display.max_rows", 500, "display.width", 160, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))


def print_recommendations(path: str, densities: list[float], *, finished: bool, by: str, what: str = "search") -> None:
    """Print what a search (or a screened study's full stage) found: per target density, select's answer by `by`."""
    opened = open_study(path)
    cells = opened.cells
    knob = str(cells["knob"].iloc[0])
    trained = sorted(cells["temperature"].unique())
    so_far = "" if finished else " so far (unfinished: the answers may change)"
    seeds = opened.study.cells.groupby("temperature")["dense_seed"].nunique()
    counts = "" if seeds.nunique() <= 1 else " (dense seeds: " + ", ".join(
        f"{seeds[t]} at {t:g}" for t in trained if t in seeds.index) + ")"
    print(f"{what} trained {len(trained)} temperatures{so_far}: {knob} {', '.join(f'{t:g}' for t in trained)}{counts}")
    for density in densities:
        try:
            answer = opened.select(density=density, by=by)
        except AdviceError as err:
            if by == "val":
                print(f"density {density:g}: {err}")
                continue
            print(f"density {density:g}: no Regime-II cell among the temperatures trained: every one has a barrier "
                  f"there; {knob_words(knob).hotter} than {hot_to_cold(knob, trained)[0]:g}")
            continue
        print(f"density {density:g}: train at {knob} {answer['temperature']:g} (Regime {answer['regime']}, by {by}), "
              f"test accuracy {pm(answer['test_acc'], answer['test_acc_se'])}")


def say_missing(study) -> None:
    """Say on stderr how many owed cells a study misses: its answers are answers from the cells present."""
    if study.missing:
        total = len(study.cells) + study.missing
        print(f"note: {study.missing} of the study's {total} cells are missing (not run yet, a deleted trial "
              "folder or a damaged result file); these answers use the cells present: `regimes run` with the "
              "study's config computes the rest", file=sys.stderr)
