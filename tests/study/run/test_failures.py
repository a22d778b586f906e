"""Why trials failed, as the run's last line says it: memory on every try is one line, not "run again"."""

from types import SimpleNamespace

from study.run.failures import memory_message, new_fault_note, out_of_memory_line


class OutOfMemoryError(Exception):
    """Named as Ray's memory monitor names the error of a worker it killed."""


def _result(temperature, error):
    return SimpleNamespace(config={"temperature": temperature, "dense_seed": 0}, error=error)


def test_only_memory_failures_make_the_line_and_it_names_the_first_trial_and_counts_the_others():
    ours = RuntimeError("Failure # 1\nTraceback ...\nTrialOutOfMemory: out of memory: it had 100 MB (RLIMIT_AS) "
                        "on the CPU, 90 MB resident at its peak; lower dense.batch_size\nmore traceback")
    results = [_result(0.1, None), _result(0.2, ours), _result(0.4, OutOfMemoryError("killed")),
               _result(0.8, ValueError("a bug"))]
    line = out_of_memory_line(results, max_failures=2)
    assert line.startswith("the trial at T=0.2 seed=0 (and 1 other) ran out of memory on all 3 tries: it had 100 MB "
                           "(RLIMIT_AS) on the CPU, 90 MB resident at its peak; lower dense.batch_size; the rows")
    assert memory_message(OutOfMemoryError("Task was killed")).startswith("Ray's memory monitor killed it")
    assert out_of_memory_line([_result(0.1, ValueError("a bug")), _result(0.2, None)], max_failures=2) is None


def test_a_failure_line_shows_each_note_once(tmp_path):
    (tmp_path / "regimes_faults.jsonl").write_text('{"fault": "hang", "message": "hung: one"}\n')
    assert new_fault_note(tmp_path, 0) == ("hung: one", 1)
    assert new_fault_note(tmp_path, 1) == (None, 1)  # a failure the trial wrote nothing for
    assert new_fault_note(tmp_path / "gone", 0) == (None, 0) and new_fault_note(None, 0) == (None, 0)
