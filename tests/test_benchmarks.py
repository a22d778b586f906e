"""Every benchmark script runs in its --smoke mode (they are documentation that must not rot)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script,expect", [
    ("engine.py", "train, batch 16"),
    ("metrics.py", "LMC, 3 points"),
    ("lmc_subset.py", "mc, first 500"),
    ("study_cost.py", "Ray per-trial overhead"),
])
def test_benchmark_smoke(script, expect, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert expect in result.stdout


def test_the_copies_benchmark_ends_with_the_speedup_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "copies.py"), "--smoke"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("retrain speedup ") and ", lmc speedup " in last and last.endswith("(median of 1)")
