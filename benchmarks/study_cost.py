"""Where a study's wall time goes: dense training, retraining, LMC, CKA, pruning, Ray overhead.

Runs the study in a fresh temporary directory (never resumes), then splits the wall time using
the timings every report row carries (`seconds_*`). Trial compute is spread over the cluster's
trial slots; what wall time the compute does not explain is Ray's (start-up is timed directly) or
idle slots at the end (load imbalance, estimated by replaying the trials first-in first-out).

    python benchmarks/study_cost.py            # the demo study (minutes)
    python benchmarks/study_cost.py --smoke    # the tiny test study (seconds)
"""

import argparse
import tempfile
import time
from pathlib import Path

from analysis import read_study
from study.config import load_config, parse_overrides
from study.launch import connect, run_study
from study.plan import makespan as fifo_makespan

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs/demo.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true", help="the tiny test study instead of the demo")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    config_path = ROOT / "configs/tiny.yaml" if args.smoke else args.config
    with tempfile.TemporaryDirectory() as storage:
        config = load_config(config_path, {**overrides, "study.storage": storage})
        started = time.perf_counter()
        connect(None)
        import ray

        seconds_init = time.perf_counter() - started
        slots = int(ray.cluster_resources()["CPU"] // config.resources.cpu)
        outcome = run_study(config)
        wall = time.perf_counter() - started
        cells = read_study(outcome.path).cells
    cells = cells.fillna({"seconds_setup": 0.0})
    parts = {
        "trial setup (data, model)": cells["seconds_setup"].sum(),
        "dense training": cells["seconds_dense"].sum(),
        "pruning": cells["seconds_prune"].sum(),
        "retraining": cells["seconds_retrain"].sum(),
        "LMC: BN re-estimation": cells["seconds_lmc_bn"].sum(),
        "LMC: error evaluation": (cells["seconds_lmc"] - cells["seconds_lmc_bn"]).sum(),
        "CKA": cells["seconds_cka"].sum(),
    }
    cell_other = (cells["seconds"] - cells[["seconds_prune", "seconds_retrain", "seconds_lmc", "seconds_cka"]]
                  .sum(axis=1)).sum()
    parts["other in cells (train_err, bookkeeping)"] = cell_other
    compute = sum(parts.values())
    cells = cells.fillna({"seconds_dense_wait": 0.0}) if "seconds_dense_wait" in cells else cells.assign(
        seconds_dense_wait=0.0)
    per_trial = (cells.groupby("trial_id")[["seconds", "seconds_dense", "seconds_setup", "seconds_dense_wait"]].sum()
                 .sum(axis=1).sort_index().tolist())
    makespan = fifo_makespan(per_trial, slots)
    print(f"study {config.study.name}: {len(cells)} cells, {len(per_trial)} trials on {slots} slots, "
          f"wall {wall:.1f} s, trial compute {compute:.1f} s")
    print(f"{'component':<42}{'compute s':>10}{'share of wall':>15}")
    for name, seconds in parts.items():
        print(f"{name:<42}{seconds:>10.1f}{seconds / slots / wall:>14.1%}")
    fit_overhead = wall - seconds_init - makespan
    imbalance = makespan - compute / slots
    waited = cells["seconds_dense_wait"].sum()
    print(f"{'waiting for the shared dense run':<42}{waited:>10.1f}{waited / slots / wall:>14.1%}")
    print(f"{'idle slots at the end (load imbalance)':<42}{'':>10}{(imbalance - waited / slots) / wall:>14.1%}")
    print(f"{'Ray start-up':<42}{seconds_init:>10.1f}{seconds_init / wall:>14.1%}")
    print(f"{'Ray per-trial overhead (the rest)':<42}{fit_overhead:>10.1f}{fit_overhead / wall:>14.1%}")
    per_cell = cells["seconds"].mean()
    metrics = (cells["seconds_lmc"] + cells["seconds_cka"]).mean()
    print(f"per cell: {per_cell:.2f} s, of which LMC + CKA {metrics:.2f} s ({metrics / per_cell:.1%}); "
          f"peak RSS of a trial process {cells['peak_rss_mb'].max():.0f} MiB")


if __name__ == "__main__":
    main()
