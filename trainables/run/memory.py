"""A trial out of memory: recognised, and said in one line with what it had and what to lower.

A CUDA out-of-memory error and a failed CPU allocation (a cgroup or address-space limit, an
exhausted host) are ordinary exceptions inside the trial; `out_of_memory` turns them into one
`TrialOutOfMemory` whose message the launcher prints when the retries under
`resources.max_failures` are spent. Ray's memory monitor kills the worker instead, and the
launcher reads Ray's own error for that (`study.run.launch`).
"""

from __future__ import annotations

import resource
from pathlib import Path

import torch

# What the study can lower (or raise) to fit, for the line the user reads.
WHAT_TO_LOWER = ("lower dense.batch_size, retrain.batch_size or retrain.copies, or give each trial more "
                 "(resources.gpu: 1 holds a whole card; a higher resources.cpu runs fewer trials a node)")


class TrialOutOfMemory(RuntimeError):
    """A trial ran out of memory; the message says where, how much it had and what to lower."""


def is_out_of_memory(err: BaseException) -> bool:
    """Return True for an allocation that failed: MemoryError, torch's OutOfMemoryError, the CPU allocator's error."""
    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def memory_had(device: torch.device) -> str:
    """Return, in words, the memory a trial on `device` could use and its peak so far."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        peak = torch.cuda.max_memory_reserved(device)
        return f"{_mb(total)} on {device}, {_mb(peak)} reserved at its peak"
    limits = [(limit, why) for limit, why in [(_address_space_limit(), "RLIMIT_AS"),
                                               (_cgroup_limit(), "cgroup memory.max"),
                                               (_host_memory(), "the host's")] if limit is not None]
    limit, why = min(limits) if limits else (None, "")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    had = f"{_mb(limit)} ({why})" if limit is not None else "an unknown amount"
    return f"{had} on the CPU, {_mb(peak)} resident at its peak"


def out_of_memory(err: BaseException, device: torch.device) -> TrialOutOfMemory:
    """Return the one-line error for `err`, an allocation that failed on `device`.

    The allocator's own words stay in the traceback it is raised from.
    """
    return TrialOutOfMemory(f"out of memory: it had {memory_had(device)}; {WHAT_TO_LOWER}")


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def _address_space_limit() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def _cgroup_limit() -> int | None:
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _host_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def exceed_memory_limit(*, headroom_mb: int, demand_mb: int) -> None:
    """Make the next forward of any module fail to allocate under a real limit (`faults` in a study config).

    This process goes under an address-space limit `headroom_mb` above what it maps, and every
    forward asks for `demand_mb` more.
    """
    with open("/proc/self/statm") as statm:  # sizes in pages: the first is the whole address space
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = mapped + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    torch.nn.modules.module.register_module_forward_pre_hook(
        lambda *_: torch.empty(demand_mb * 2**20, dtype=torch.uint8).fill_(1))
