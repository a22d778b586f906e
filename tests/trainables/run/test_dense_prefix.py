"""The dense run shared by the trials of an epochs study: exact continuation, the file protocol."""

import copy
import json
import os
import subprocess
import threading
import time

import torch

from trainables.data import load_dataset
from trainables.models import build_model
from trainables.run.dense_prefix import LOCK, dense_at_epoch
from trainables.run.engine import train
from trainables.run.runtime import seed_everything
from trainables.run.schedules import epoch_schedule
from trainables.run.settings import SGDRun


def test_a_run_continued_from_a_snapshot_equals_the_uninterrupted_run():
    seed_everything(0)
    data = load_dataset("synthetic")
    model = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)
    straight = copy.deepcopy(model)
    schedule = epoch_schedule(0.1, epochs=6, steps_per_epoch=8, milestone_epochs=(3,))
    run = SGDRun(schedule, 5 * 8, 64, momentum=0.9, weight_decay=5e-4, sam_rho=0.1)
    train(straight, data, run, seed=5)
    first = train(model, data, run.replace(steps=2 * 8), seed=5)
    state = copy.deepcopy(model.state_dict())
    resumed = build_model("cnn1d", input_shape=data.input_shape, num_classes=10)  # another process's model
    resumed.load_state_dict(state)
    second = train(resumed, data, run, seed=5, start_epoch=2, optimizer_state=first.optimizer_state)
    assert second.steps == 3 * 8
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key  # bit for bit on the CPU


class _Recorder:
    """A stand-in for training: the 'model' is the epoch it reached; records what was trained."""

    def __init__(self):
        self.calls = []

    def __call__(self, snapshot, stop, heartbeat):
        start = 0 if snapshot is None else snapshot["epoch"]
        self.calls.append((start, stop))
        for _ in range(stop - start):
            heartbeat()
        return {"model": {"w": torch.tensor(float(stop))}, "optimizer": {}, "diverged": False}


def test_trials_of_one_seed_train_each_epoch_once_and_keep_a_snapshot_per_temperature(tmp_path):
    stops = [2, 3, 5, 8]
    first = _Recorder()
    snap, share = dense_at_epoch(tmp_path, 3, stops=stops, advance=first)
    assert first.calls == [(0, 2), (2, 3)] and snap["epoch"] == 3 and share["epochs_trained"] == 3
    later = _Recorder()
    snap, share = dense_at_epoch(tmp_path, 8, stops=stops, advance=later)
    assert later.calls == [(3, 5), (5, 8)] and snap["model"]["w"].item() == 8.0 and share["epochs_trained"] == 5
    earlier = _Recorder()
    snap, share = dense_at_epoch(tmp_path, 2, stops=stops, advance=earlier)
    assert earlier.calls == [] and snap["epoch"] == 2 and share["epochs_trained"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"epoch{e:04d}.pt" for e in stops]  # no lock left


def test_a_trial_waits_while_another_trains_then_reads_its_snapshot(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid()}))  # alive

    def other_trial_finishes():
        time.sleep(0.3)
        torch.save({"epoch": 4, "model": {}, "optimizer": {}, "diverged": False}, tmp_path / "epoch0004.pt")
        (tmp_path / LOCK).unlink()

    thread = threading.Thread(target=other_trial_finishes)
    thread.start()
    waiting = _Recorder()
    snap, share = dense_at_epoch(tmp_path, 4, stops=[4], advance=waiting, poll_seconds=0.05)
    thread.join()
    assert waiting.calls == [] and snap["epoch"] == 4 and share["seconds_waited"] > 0.2


def test_a_dead_holder_is_taken_over_from_the_latest_snapshot(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    torch.save({"epoch": 2, "model": {"w": torch.tensor(2.0)}, "optimizer": {}, "diverged": False},
               tmp_path / "epoch0002.pt")
    (tmp_path / LOCK).write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid}))
    heir = _Recorder()
    snap, _ = dense_at_epoch(tmp_path, 5, stops=[2, 5], advance=heir, poll_seconds=0.01)
    assert heir.calls == [(2, 5)] and snap["epoch"] == 5


def test_a_silent_holder_on_another_host_is_taken_over_after_stale_seconds(tmp_path):
    lock = tmp_path / LOCK
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    old = time.time() - 100
    os.utime(lock, (old, old))
    heir = _Recorder()
    dense_at_epoch(tmp_path, 1, stops=[1], advance=heir, stale_seconds=50, poll_seconds=0.01)
    assert heir.calls == [(0, 1)]


def test_a_lock_left_empty_by_a_holder_that_died_writing_it_is_taken_over(tmp_path):
    # A full disk: the lock's file was created, its record never written; every trial waited
    # stale_seconds (600 s) for it before.
    lock = tmp_path / LOCK
    lock.write_bytes(b"")
    old = time.time() - 6  # past the 5 s a holder has to write its record
    os.utime(lock, (old, old))
    heir = _Recorder()
    started = time.monotonic()
    dense_at_epoch(tmp_path, 1, stops=[1], advance=heir, stale_seconds=600, poll_seconds=0.01)
    assert heir.calls == [(0, 1)] and time.monotonic() - started < 60


def test_a_lock_being_written_is_waited_for(tmp_path):
    lock = tmp_path / LOCK
    lock.write_bytes(b"")  # just created: its holder is writing its record

    def holder_writes_then_finishes():
        time.sleep(0.3)
        torch.save({"epoch": 1, "model": {}, "optimizer": {}, "diverged": False}, tmp_path / "epoch0001.pt")
        lock.unlink()

    thread = threading.Thread(target=holder_writes_then_finishes)
    thread.start()
    waiting = _Recorder()
    snap, _ = dense_at_epoch(tmp_path, 1, stops=[1], advance=waiting, poll_seconds=0.05)
    thread.join()
    assert waiting.calls == [] and snap["epoch"] == 1
