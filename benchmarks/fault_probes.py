"""The faults of `benchmarks/faults.py` that are not damage to a finished study's files.

A trial that hangs, a trial out of memory on every try, a study moved or copied to another root, a
driver SIGKILLed during a repair, and a trial folder deleted in object storage (moto's S3 server on
127.0.0.1, where moto[server] is installed). Each returns one line of the table.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from contract.folders import experiments, read_result_lines, trial_folders
from contract.results import row_counts
from faults import line, regimes_run
from tests.helpers import TINY as CONFIG, driver_at, trial_folder

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def numbers(study) -> dict:
    """Return each cell's last reported (test_acc, lmc), over the study's experiments."""
    found = {}
    for experiment in experiments(study):
        for folder in trial_folders(experiment):
            for row in read_result_lines(folder)[0]:
                if "density" in row:
                    found[(row["temperature"], row["dense_seed"], row["density"])] = (row["test_acc"], row["lmc"])
    return found


def _timed(fault: str, study, clean: Path, before: collections.Counter, run, *, after=lambda: "") -> str:
    # Run, count, and compare every cell the study holds with the clean study's numbers.
    started = time.monotonic()
    done = run()
    seconds = time.monotonic() - started
    want, got = numbers(clean), numbers(study)
    same = "same numbers" if got and all(want.get(cell) == value for cell, value in got.items()) else "numbers DIFFER"
    return line(fault, before, done, row_counts(study), seconds, extra=same + after())


def hang(work: Path, clean: Path) -> str:
    storage = work / "hang"
    storage.mkdir()
    return _timed("a trial whose forward blocks (faults.hang_after_densities, trial_timeout_s 5)", storage / "tiny",
                  clean, collections.Counter(), lambda: regimes_run(storage, sets=["faults.hang_after_densities=1",
                                                                                   "resources.trial_timeout_s=5"]))


def out_of_memory(work: Path, clean: Path) -> str:
    storage = work / "memory"
    storage.mkdir()
    sets = ["faults.out_of_memory_after_densities=1", "resources.max_failures=1"]
    first = regimes_run(storage, sets=sets)
    before = row_counts(storage / "tiny")
    return _timed(f"out of memory on every try (a real RLIMIT_AS; first run exit {first.returncode}: "
                  f"{first.stderr.strip().splitlines()[-1][:60]}...), then the same command", storage / "tiny", clean,
                  before, lambda: regimes_run(storage, sets=sets))


def moved(work: Path, clean: Path) -> str:
    (work / "was").mkdir()
    (work / "moved").mkdir()
    study = Path(shutil.move(str(shutil.copytree(clean, work / "was" / "tiny")), str(work / "moved" / "tiny")))
    shutil.rmtree(trial_folder(study, 4.0))
    return _timed("moved to another root, a trial folder deleted", study, clean, row_counts(study),
                  lambda: regimes_run(work / "moved"))


def copied(work: Path, clean: Path) -> str:
    original = shutil.copytree(clean, work / "original" / "tiny")
    study = shutil.copytree(original, work / "copy" / "tiny")
    shutil.rmtree(trial_folder(study, 4.0))
    listing = _listing(original)
    return _timed("copied to another root, a trial folder deleted in the copy", study, clean, row_counts(study),
                  lambda: regimes_run(work / "copy"),
                  after=lambda: "; original untouched" if _listing(original) == listing else "; ORIGINAL CHANGED")


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def killed_during_repair(work: Path, clean: Path) -> str:
    storage = work / "killed"
    study = shutil.copytree(clean, storage / "tiny")
    for folder in study.glob("run_trial_*"):
        shutil.rmtree(folder)
    driver = driver_at(["run", str(CONFIG), "--storage", str(storage)], storage, own_session=True, wait_s=600)
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    try:
        os.killpg(driver.pid, signal.SIGKILL)  # its own Ray, left running by the kill
    except ProcessLookupError:
        pass
    return _timed("the driver SIGKILLed at the first cell of a repair (both trial folders deleted)", study, clean,
                  row_counts(study), lambda: regimes_run(storage))


def s3_repair(work: Path, clean: Path) -> str:
    server = Path(sys.executable).parent / "moto_server"
    try:
        import boto3
    except ImportError:
        boto3 = None
    if boto3 is None or not server.exists():
        return "| a trial folder deleted in S3 | - | - | - | - | - | not run: needs moto[server] and boto3 (dev extra) |"
    port = 5000 + os.getpid() % 1000
    moto = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        os.environ.update(CREDENTIALS)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="studies")
                break
            except Exception:  # noqa: BLE001 (the server is still starting)
                time.sleep(0.1)
        root = f"s3://studies/runs?endpoint_override=127.0.0.1:{port}&scheme=http"
        study = f"s3://studies/runs/tiny?endpoint_override=127.0.0.1:{port}&scheme=http"
        first = regimes_run(work, storage_uri=root)
        if first.returncode != 0:
            return f"| a trial folder deleted in S3 | - | - | - | - | - | the first run failed: {first.stderr[-200:]} |"
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="studies", Prefix="runs/tiny/run_trial_")["Contents"]]
        gone = sorted({key.split("/")[2] for key in keys})[0]
        for key in keys:
            if key.split("/")[2] == gone:
                client.delete_object(Bucket="studies", Key=key)
        return _timed("a trial folder deleted in S3 (moto's server)", study, clean, row_counts(study),
                      lambda: regimes_run(work, storage_uri=root))
    finally:
        moto.send_signal(signal.SIGKILL)
        moto.wait(timeout=30)


PROBES = [hang, out_of_memory, moved, copied, killed_during_repair, s3_repair]
