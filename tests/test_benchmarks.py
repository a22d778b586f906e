"""Every benchmark script runs in its --smoke mode (they are documentation that must not rot)."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script,extra,expect", [
    ("engine.py", [], "train, batch 16"),
    ("metrics.py", [], "LMC, 3 points"),
    ("lmc_subset.py", [], "mc, first 500"),
    ("study_cost.py", [], "Ray per-trial overhead"),
    ("study_cost.py", ["--screen", "1"], "answers agree with the grid's within its standard errors, at"),
    ("study_cost.py", ["--side-by-side"], "composed against the grid: compute "),
    ("spectra.py", [], "largest relative difference from weightwatcher over the layers it reads"),
])
def test_benchmark_smoke(script, extra, expect, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke", *extra], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert expect in result.stdout


def test_the_gpu_check_runs_its_code_on_the_cpu_and_packs_trials_on_one_logical_gpu(tmp_path):
    # Without CUDA the Makefile's gpu-check exits 2 naming what is missing; --smoke runs every check's
    # code on the CPU, with one logical GPU for Ray: resources.gpu 0.25 runs several trials at once.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "benchmarks" / "gpu_check.py")
    import torch

    if not torch.cuda.is_available():
        refused = subprocess.run([sys.executable, script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                                 env=env)
        assert refused.returncode == 2 and "torch sees no CUDA device here" in refused.stderr
    result = subprocess.run([sys.executable, script, "--smoke"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "inside full_precision (matmul, conv): ('ieee', 'ieee')" in out
    assert "deterministic true : same weights bit for bit: yes" in out
    packed = re.search(r"4 trials, at most (\d) running at once", out)
    assert packed and int(packed.group(1)) >= 2, out[-1500:]


def test_the_copies_benchmark_ends_with_the_speedup_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "copies.py"), "--smoke"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("retrain speedup ") and ", lmc speedup " in last and last.endswith("(median of 1)")


def test_the_search_replay_ends_with_the_three_regrets_on_a_table_and_on_a_csv(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search_replay.py"), "--smoke"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("regimes ") and ", random " in last and last.endswith("(mean regret, budget 3 of 16)")
    # A CSV written in the documented format, with one temperature clearly best everywhere: every searcher
    # that visits it has regret 0; with the budget equal to the grid all of them do.
    rows = ["knob,temperature,density,test_acc,lmc,cka"]
    rows += [f"epochs,{t},{d},{0.9 if t == 30 else 0.8},0.0,{0.99 if t == 30 else 0.9}"
             for t in (10, 20, 30) for d in (0.1, 0.5)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search_replay.py"), "t.csv", "--budget", "3"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == \
        "regimes 0.00 pts, random 0.00 pts, optuna 0.00 pts, bisection 0.00 pts (mean regret, budget 3 of 3)"


def test_the_replay_answers_every_searcher_by_validation_accuracy_and_scores_on_test(tmp_path):
    # Validation accuracy points at 20 everywhere, test accuracy at 30: answering by val, a searcher
    # that visits the whole grid picks 20 and pays 0.9 - 0.85 = 5 points at each density. Bisection
    # trains 20 and 30 (20 better), then 10 and 20 (20 better): it picks 20 too.
    rows = ["knob,temperature,density,test_acc,val_acc,lmc,cka"]
    rows += [f"epochs,{t},{d},{ {10: 0.8, 20: 0.85, 30: 0.9}[t] },{ {10: 0.8, 20: 0.95, 30: 0.9}[t] },0.0,0.9"
             for t in (10, 20, 30) for d in (0.1, 0.5)]
    (tmp_path / "v.csv").write_text("\n".join(rows) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "benchmarks" / "search_replay.py")
    result = subprocess.run([sys.executable, script, "v.csv", "--budget", "3"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "every searcher answering by val accuracy" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == \
        "regimes 5.00 pts, random 5.00 pts, optuna 5.00 pts, bisection 5.00 pts (mean regret, budget 3 of 3)"
    (tmp_path / "t.csv").write_text("\n".join(r.replace(",val_acc", "") if i == 0 else
                                              ",".join(r.split(",")[:4] + r.split(",")[5:])
                                              for i, r in enumerate(rows)) + "\n")
    refused = subprocess.run([sys.executable, script, "t.csv", "--answer-by", "val"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=300, env=env)
    assert refused.returncode == 2 and "needs a val_acc column" in refused.stderr


def test_the_bisection_rival_follows_the_slope_to_a_unimodal_peak_in_few_trials(tmp_path):
    # Eight temperatures (indices 0-7), validation accuracy peaked at index 6 and test accuracy best
    # at 7 (regret 1 point at each density). Bisection trains 3 and 4 (4 better: right), 5 and 6
    # (6 better: right), then 7 beside 6 (6 better: left): 5 trials, picks 6. With a budget of 4
    # the last one does not fit; it stops and picks 6, the best it saw. With 3, its last trial is
    # the second pair's lower side (index 5), and it picks 5: test accuracy 0.9 - 0.01 - 0.001,
    # 2.1 points below index 7's.
    peak = {t: 0.9 - 0.02 * abs(t - 6) for t in range(8)}
    rows = ["knob,temperature,density,test_acc,val_acc,lmc,cka"]
    rows += [f"epochs,{t + 1},{d},{0.91 if t == 7 else 0.9 - 0.01 * abs(t - 6) - 0.001 * (t < 6)},{peak[t]},0.0,0.9"
             for t in range(8) for d in (0.1, 0.5)]
    (tmp_path / "b.csv").write_text("\n".join(rows) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for budget, visits, regret in ((5, "4, 5, 6, 7, 8", "1.00"), (4, "4, 5, 6, 7", "1.00"), (3, "4, 5, 6", "2.10")):
        result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "search_replay.py"), "b.csv", "--budget",
                                 str(budget)], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f", bisection {regret} pts (mean regret" in result.stdout.strip().splitlines()[-1]
        # Indices 3-7, 3-6 or 3-5: the temperatures are index + 1.
        assert result.stdout.splitlines()[0].endswith(f"bisection visited {visits}")


def test_the_seed_replay_reveals_seeds_only_where_the_rule_asks_for_them():
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from seed_replay import replay

    # Three learning rates, one density, four seeds. 0.01 is a sure I from its first two seeds
    # (-0.50, -0.52: +- 0.01) and 0.04 a sure II (0.00, 0.02); 0.02 sits on the threshold
    # (-0.14, -0.04: -0.09 +- 0.05) with a neighbour of each side: it wants seeds, and gets seeds 2
    # and 3 of the grid (-0.06, -0.12 keep it within noise), then has every seed: done.
    mc = {0.01: [-0.50, -0.52, -0.51, -0.49], 0.02: [-0.14, -0.04, -0.06, -0.12], 0.04: [0.00, 0.02, 0.01, 0.0]}
    rows = pd.DataFrame([{"knob": "lr", "temperature": t, "dense_seed": s, "density": 0.05, "test_acc": 0.8,
                          "val_acc": {0.01: 0.5, 0.02: 0.6, 0.04: 0.8}[t] + 0.01 * (s % 2), "lmc": mc[t][s],
                          "cka": 0.9, "status": "ok", "n_copies": 2} for t in mc for s in range(4)])
    settings = {"knob": "lr", "densities": [0.05], "mc_threshold": -0.1, "cka_eps": 0.005, "confidence": 2.0,
                "by": "val"}
    shown = replay(rows, first=[0, 1], max_seeds=4, margin=0.0, settings=settings, slots=1)
    assert shown.groupby("temperature")["dense_seed"].apply(sorted).to_dict() == {
        0.01: [0, 1], 0.02: [0, 1, 2, 3], 0.04: [0, 1]}
