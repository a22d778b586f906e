"""The one lock-file helper of the study lock and the shared dense run."""

import json
import os
import socket
import subprocess
import sys

import pytest

from trainables.run import pidlock


def test_one_holder_at_a_time_and_only_the_holder_releases(tmp_path):
    lock = tmp_path / "x.lock"
    assert pidlock.try_create(lock) and not pidlock.try_create(lock)
    holder = pidlock.read_holder(lock)
    assert (holder["host"], holder["pid"]) == (socket.gethostname(), os.getpid()) and pidlock.is_mine(holder)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 1}))  # another process's lock
    pidlock.release(lock)
    assert lock.exists()
    lock.write_text(json.dumps(pidlock.this_process()))
    pidlock.release(lock)
    assert not lock.exists()


def test_a_holder_whose_process_is_gone_has_died_one_on_another_host_cannot_be_told(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert pidlock.holder_died({"host": socket.gethostname(), "pid": int(gone)})
    assert not pidlock.holder_died({"host": socket.gethostname(), "pid": os.getpid()})
    assert not pidlock.holder_died({"host": "another-host", "pid": int(gone)})
    (tmp_path / "half.lock").write_text("{")
    assert pidlock.read_holder(tmp_path / "half.lock") is None and pidlock.read_holder(tmp_path / "no.lock") is None


def test_a_lock_whose_record_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    # A full disk while writing the record: before, an empty lock file stayed, which the shared
    # dense run's trials waited 600 s for.
    import errno

    lock = tmp_path / "x.lock"

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pidlock.json, "dump", no_space)
    # The error reaches the caller (a lock neither taken nor refused: not False, "held by another"),
    # and nothing is left behind, neither the lock nor its temporary record.
    with pytest.raises(OSError) as err:
        pidlock.try_create(lock)
    assert err.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert pidlock.try_create(lock)  # the next try, with space, takes it
