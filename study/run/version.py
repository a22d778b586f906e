"""The version of this code as results record it: the package version plus the git commit."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path


def code_version() -> str:
    """Return the package version plus the git commit of the source tree when there is one."""
    try:
        version = metadata.version("three-regime-pruning")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        sha = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        sha = ""
    return f"{version}+g{sha}" if sha else version
