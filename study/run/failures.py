"""Why a study's trials failed, in the words a user acts on: a hang, memory, or Tune's own error.

A trial whose process ends (the watchdog of a hung trial, Ray's memory monitor, a SIGKILL) leaves
Tune only "the actor died"; the trial notes what it knows in its folder first
(`contract.folders.FAULTS_FILE`). An allocation that failed inside the trial is a
`TrialOutOfMemory` whose message says what it had and what to lower; Ray's memory monitor raises
`ray.exceptions.OutOfMemoryError` instead. Retrying either one as it is would fail again, so once
`resources.max_failures` is spent the study ends with that one line rather than "run again".
"""

from __future__ import annotations

from pathlib import Path

from contract.folders import read_fault_notes

MEMORY_MARK = "out of memory: "  # how `trainables.run.memory.TrialOutOfMemory` messages begin
RAY_MEMORY_MONITOR = ("lower the trial's memory, or give the node more; Ray's memory monitor kills the worker that "
                      "uses the most once the node's memory passes RAY_memory_usage_threshold (0.95)")


def new_fault_note(trial_path: str | Path | None, seen: int) -> tuple[str | None, int]:
    """Return the newest fault note of a trial folder written after the first `seen`, and how many there are."""
    notes = read_fault_notes(trial_path) if trial_path is not None and Path(trial_path).is_dir() else []
    return (notes[-1]["message"] if len(notes) > seen else None), len(notes)


def memory_message(error: BaseException | None) -> str | None:
    """Return what to say of a trial's final error when it ran out of memory, None for any other error."""
    if error is None:
        return None
    text = str(error)
    if MEMORY_MARK in text:
        return text.split(MEMORY_MARK, 1)[1].splitlines()[0]
    if type(error).__name__ == "OutOfMemoryError" or "OutOfMemoryError" in text:
        return f"Ray's memory monitor killed it: {RAY_MEMORY_MONITOR}"
    return None


def out_of_memory_line(results, max_failures: int) -> str | None:
    """Return the one line for trials that ran out of memory on every try, None when none did.

    Args:
        results: Tune's results of the study's experiments (each with `.config` and `.error`).
        max_failures: the retries each trial had (resources.max_failures).
    """
    failed = [(result, message) for result in results if (message := memory_message(result.error)) is not None]
    if not failed:
        return None
    result, message = failed[0]
    others = f" (and {len(failed) - 1} other{'s' * (len(failed) > 2)})" if len(failed) > 1 else ""
    return (f"the trial at T={result.config.get('temperature'):g} seed={result.config.get('dense_seed')}{others} ran "
            f"out of memory on all {max_failures + 1} tries: {message}; the rows already reported are kept: give "
            "the trials more memory and run the same command again, or change the config in a new study (study.name)")
