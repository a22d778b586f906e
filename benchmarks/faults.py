"""The fault table: each fault of a finished tiny study, the same `regimes run` again, rows counted.

Runs the tiny config (2 temperatures x 2 densities) once, then for each fault damages a copy the
way a disk or a user would, counts the readable rows on disk, reruns the same command in its own
process and counts again. A row is counted once per readable result line; "each once" says that
every owed cell is there exactly once afterwards. The full disk needs permission to mount a tmpfs
(root); without it that line says so. Then the faults that are not damage to a finished study
(`benchmarks/fault_probes.py`): a hang, memory, a move, a copy, a driver killed during a repair,
and a repair in S3, each with whether its cells have the clean study's numbers.

    python benchmarks/faults.py            # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from contract.results import row_counts  # noqa: E402  (the rows a study's folders hold, readable lines only)
# The hands that damage a study are the recovery tests' own (tests/helpers.py).
from tests.helpers import bad_byte, copy_study, cut, trial_folder  # noqa: E402
from tests.helpers import regimes_run as run_tiny  # noqa: E402
OWED = 4


def regimes_run(storage: Path, name: str = "tiny", *, sets: tuple | list = (),
                storage_uri: str | None = None) -> subprocess.CompletedProcess:
    """Run `regimes run` on the tiny config in its own process (in `storage`, or at `storage_uri`)."""
    return run_tiny(storage, *[a for s in [f"study.name={name}", *sets] for a in ("--set", s)], storage_uri=storage_uri)


FAULTS = {
    "a trial folder deleted": lambda s: shutil.rmtree(trial_folder(s, 4.0)),
    "a non-UTF-8 byte in a result line": lambda s: bad_byte(trial_folder(s, 2.0) / "result.json"),
    "a result.json overwritten with ASCII garbage": lambda s: (trial_folder(s, 2.0) / "result.json").write_bytes(
        b"garbage\n" * 20),
    "garbage over a checkpoint": lambda s: [f.write_bytes(b"garbage" * 20)
                                            for f in trial_folder(s, 2.0).glob("checkpoint_*/*")],
    "a checkpoint cut short": lambda s: [cut(f) for f in trial_folder(s, 2.0).glob("checkpoint_*/*")],
    "the experiment state cut short": lambda s: [cut(f, 0.01) for f in s.glob("experiment_state-*.json")],
    "the experiment state deleted": lambda s: [f.unlink() for f in s.glob("experiment_state-*.json")],
    "the state cut short and a trial folder deleted": lambda s: ([cut(f, 0.01) for f in
                                                                  s.glob("experiment_state-*.json")],
                                                                 shutil.rmtree(trial_folder(s, 2.0))),
    "the config snapshot deleted": lambda s: (s / "regimes_config.json").unlink(),
}


def line(fault: str, before: collections.Counter, rerun: subprocess.CompletedProcess, after: collections.Counter,
         seconds: float, *, extra: str = "") -> str:
    once = len(after) == OWED and set(after.values()) == {1}
    said = [ln for ln in rerun.stderr.splitlines() if ln.startswith(("repair:", "Tune's", "regimes: error",
                                                                       "unfinished", "study complete", "trial T="))]
    return (f"| {fault} | {sum(before.values())} | {rerun.returncode} | {sum(after.values())} | "
            f"{'yes' if once else 'NO'} | {seconds:.0f} s | {' / '.join([*(s[:90] for s in said), *[extra] * bool(extra)])} |")


def full_disk(work: Path) -> str:
    """The probe's full disk: a 600 KB tmpfs, the run, the same command after the disk is enlarged."""
    disk = work / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        return "| a full disk (600 KB tmpfs) | - | - | - | - | - | not run: cannot mount a tmpfs here (needs root) |"
    try:
        first = regimes_run(disk)
        before = row_counts(disk / "tiny")
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        started = time.monotonic()
        rerun = regimes_run(disk)
        after = row_counts(disk / "tiny")
        first_said = first.stderr.strip().splitlines()[-1][:90]
        return line(f"a full disk (600 KB tmpfs; first run exit {first.returncode}: {first_said}), then 8 MB",
                    before, rerun, after, time.monotonic() - started)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "clean").mkdir()
        done = regimes_run(work / "clean")
        if done.returncode != 0:
            sys.exit(f"the clean run failed:\n{done.stderr[-2000:]}")
        clean = work / "clean" / "tiny"
        print("| fault | rows before | rerun exit | rows after | each owed cell once | rerun time | what it said |")
        print("|---|---|---|---|---|---|---|")
        for number, (fault, damage) in enumerate(FAULTS.items()):
            storage = work / f"fault{number}"
            storage.mkdir()
            study = copy_study(clean, storage)
            damage(study)
            before = row_counts(study)
            started = time.monotonic()
            rerun = regimes_run(storage)
            print(line(fault, before, rerun, row_counts(study), time.monotonic() - started), flush=True)
        print(full_disk(work), flush=True)
        from fault_probes import PROBES  # the faults that are not damage to a finished study's files

        for probe in PROBES:
            print(probe(work, clean), flush=True)


if __name__ == "__main__":
    main()
