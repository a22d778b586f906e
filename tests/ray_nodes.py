"""Real Ray nodes for tests: `ray start` processes found and torn down by pid through /proc (Linux).

`ray stop` would also stop the test session's own cluster; these helpers kill only the processes
whose command line names this cluster's GCS port, and everything under them.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# Token authentication (on by default in Ray 2.60) would need the head's token on the second node.
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    return []


def _processes(match) -> list[int]:
    """Return the pids whose command line satisfies `match` (Linux /proc; no extra dependency)."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and match(_cmdline(int(p.name)))]


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def ray_nodes(*, second: bool = True, head_args: tuple = ("--num-cpus=1", "--include-dashboard=false")):
    """Yield (address, node-manager port of the second node or None); kill every process of the cluster on exit.

    The head and (with `second`) one more node, each started by `ray start` with its own resources.
    """
    port, second_port = free_port(), free_port()

    def ours(cmdline: list[str]) -> bool:
        return any(arg.endswith(f":{port}") or arg == f"--gcs_server_port={port}" for arg in cmdline)

    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-gpus=0", "--disable-usage-stats",
                        *head_args], env=ENV, check=True, capture_output=True, timeout=120)
        address = f"127.0.0.1:{port}"
        if second:
            subprocess.run([RAY, "start", f"--address={address}", "--num-cpus=1", "--num-gpus=0",
                            f"--node-manager-port={second_port}", "--disable-usage-stats"], env=ENV, check=True,
                           capture_output=True, timeout=120)
        yield address, second_port if second else None
    finally:
        pids = _processes(ours)
        kill([child for pid in pids for child in _descendants(pid)] + pids)


def node_processes(node_manager_port: int) -> list[int]:
    # The second node's raylet and everything it started (workers, agents).
    raylets = _processes(lambda cmd: f"--node_manager_port={node_manager_port}" in cmd and cmd[0].endswith("raylet"))
    return raylets + [child for pid in raylets for child in _descendants(pid)]


