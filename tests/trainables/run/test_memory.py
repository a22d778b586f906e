"""An allocation that fails under a real limit is recognised and said with what the trial had."""

import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from trainables.run.memory import TrialOutOfMemory, is_out_of_memory, memory_had, out_of_memory


def test_memory_errors_are_told_from_other_errors():
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the allocator's own error types


def test_under_an_address_space_limit_the_failure_names_the_limit_and_what_to_lower():
    pytest.importorskip("resource", reason="address-space limits (setrlimit) are POSIX")
    script = (
        "import resource, torch\n"
        "from trainables.run.memory import exceed_memory_limit, out_of_memory\n"
        "exceed_memory_limit(headroom_mb=256, demand_mb=1024)\n"
        "limit = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
        "try:\n"
        "    torch.nn.Linear(2, 2)(torch.zeros(1, 2))\n"
        "except RuntimeError as err:\n"
        "    print(limit, '|', out_of_memory(err, torch.device('cpu')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    limit, message = done.stdout.strip().split(" | ")
    assert message.startswith(f"out of memory: it had {int(limit) / 2**20:,.0f} MB (RLIMIT_AS) on the CPU, ")
    assert "lower dense.batch_size, retrain.batch_size or retrain.copies" in message


def test_without_a_limit_the_cpu_has_the_hosts_memory_or_the_cgroups():
    had = memory_had(torch.device("cpu"))
    assert had.endswith("resident at its peak") and ("(the host's)" in had or "(cgroup memory.max)" in had)
    assert isinstance(out_of_memory(MemoryError(), torch.device("cpu")), TrialOutOfMemory)
