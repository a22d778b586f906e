"""Following studies from the command line: `regimes status` and `regimes ls`.

Both only read: Tune's files through `analysis.read_study`, and the lock file that tells a study
being run from one left unfinished.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis import StudyReadError, read_study
from analysis.cost import cost_line, study_compute
from study import checks, lock, storage
from study.config import is_uri


def status(args: argparse.Namespace) -> int:
    """`regimes status STUDY`: each trial's densities done, state, failures and seconds."""
    study = read_study(args.study)
    if study.trials.empty:
        print(f"{args.study}: no trials yet")
        return 0
    trials = study.trials.assign(done=lambda t: t.densities_done.astype(str) + "/" + t.densities_total.astype(str),
                                 state=lambda t: t.complete.map({True: "complete", False: "unfinished"}))
    columns = ["temperature", "dense_seed", "done", "state", "failures", "seconds"]
    # Temperatures with their own digits (lr 0.005 is not 0.0), seconds to a tenth.
    print(trials[columns].to_string(index=False, formatters={"temperature": "{:g}".format,
                                                               "seconds": "{:.1f}".format}))
    done, total = len(study.cells), len(study.cells) + study.missing if study.config is not None else \
        int(trials.densities_total.sum())
    print(f"cells {done}/{total}; {int(trials.complete.sum())}/{len(trials)} trials complete")
    if len(study.cells):
        print(cost_line(study_compute(study)))
    return 0


def ls(args: argparse.Namespace) -> int:
    """`regimes ls ROOT`: every study under a storage root, its cells done and its state."""
    if is_uri(args.root):
        names = storage.folders(args.root)
        where = [(name, storage.join(args.root, name)) for name in names]
    else:
        root = Path(args.root)
        if not root.is_dir():
            raise StudyReadError(f"{args.root}: no such directory; give the storage root that holds your studies")
        where = [(p.name, str(p)) for p in sorted(p for p in root.iterdir() if p.is_dir())]
    found = False
    for name, folder in where:
        try:
            study = read_study(folder)
        except StudyReadError as err:
            if checks.looks_like_a_study(folder):  # its own files are there: damaged, not absent
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
