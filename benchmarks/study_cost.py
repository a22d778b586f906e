"""Where a study's wall time goes: dense training, retraining, LMC, CKA, pruning, Ray overhead.

Runs the study in a fresh temporary directory (never resumes), then splits the wall time using
the timings every report row carries (`seconds_*`). Trial compute is spread over the cluster's
trial slots; what wall time the compute does not explain is Ray's (start-up is timed directly) or
idle slots at the end (load imbalance, estimated by replaying the trials first-in first-out).

    python benchmarks/study_cost.py            # the demo study (minutes)
    python benchmarks/study_cost.py --smoke    # the tiny test study (seconds)
    python benchmarks/study_cost.py --screen 1 # the demo's grid, then the same study screened at 1 retraining
                                               # epoch, side by side: compute and select's answers

With --side-by-side, three studies of one setting (--config) run one after the other in one
process and one temporary storage root: the grid with as many dense seeds as
configs/demo_fast.yaml may add up to (seeds.max_seeds, 6), the same grid starting from demo_fast's
first seeds and adding seeds where calls are uncertain ("seeded", the map), and demo_fast's whole
composition on the setting ("composed": its search, first seeds, seeds.max_seeds and margin, and
its screen; the compute counted includes the screen's). Per
study: trials, compute by part as `regimes status` splits it (dense training included), calls
sure / unresolved / at the boundary; per study against the grid: its compute as a share of the
grid's, the cells both call surely (equal, contradicted, and contradicted on the mc side I vs
II), and the answers by the grid's criterion (equal, or within the grid's noise).

    python benchmarks/study_cost.py --side-by-side                            # the demo's setting
    python benchmarks/study_cost.py --side-by-side --config configs/cost_mlp.yaml

With --screen E the grid and the screened study (`study.screen_epochs: E`) run one after the
other in one temporary storage root; it prints each one's compute by part (`analysis.cost`),
the screened study's retraining compute (screen and full stage) as a share of the grid's, and
per target density and criterion whether the screened study's answer is the grid's within the
grid's standard errors (`analysis.agreement`).
"""

import argparse
import tempfile
import time
from pathlib import Path

from analysis import open_study, read_study
from analysis.agreement import answer_agreement
from analysis.cost import cost_line, study_compute
from analysis.screen import owes_for
from analysis.uncertainty import is_sure, mc_side
from study.config import load_config, parse_overrides
from study.run.cluster import connect
from study.run.launch import run_study
from study.run.plan import makespan as fifo_makespan

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs/demo.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true", help="the tiny test study instead of the demo")
    parser.add_argument("--screen", type=int, metavar="E", help="compare the grid with the study screened at E epochs")
    parser.add_argument("--side-by-side", action="store_true",
                        help="the grid with 6 dense seeds, the seeded map and demo_fast's composition of the setting")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    config_path = ROOT / "configs/tiny.yaml" if args.smoke else args.config
    if args.side_by_side:
        return side_by_side(config_path, overrides)
    if args.screen:
        return screened_against_grid(config_path, overrides, args.screen)
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


def screened_against_grid(config_path, overrides: dict, screen_epochs: int) -> None:
    """Run the grid and the screened study side by side; print their compute and whether their answers agree."""
    from study.run.screen import run_screened

    with tempfile.TemporaryDirectory() as storage:
        grid_config = load_config(config_path, {**overrides, "study.storage": storage})
        screened = load_config(config_path, {**overrides, "study.storage": storage,
                                             "study.screen_epochs": screen_epochs,
                                             "study.name": f"{grid_config.study.name}_screened"})
        connect(None)
        timed = {}
        started = time.perf_counter()
        grid = run_study(grid_config)
        timed["grid"] = time.perf_counter() - started
        started = time.perf_counter()
        _, full = run_screened(screened, owes_rule=owes_for(screened), read_cells=lambda p: read_study(p).cells)
        timed["screened"] = time.perf_counter() - started
        studies = {"grid": read_study(grid.path), "screened": read_study(full.path)}
        splits = {name: study_compute(study) for name, study in studies.items()}
        for name, split in splits.items():
            print(f"{name:<9} wall {timed[name]:6.1f} s, {len(studies[name].cells)} full-budget cells; "
                  f"{cost_line(split)}")
        retrain = {n: s["screen"]["cpu_s"] + s["retrain"]["cpu_s"] for n, s in splits.items()}
        ours, theirs = splits["screened"], splits["grid"]
        print(f"retraining compute: screened {retrain['screened']:,.0f} CPU-s = "
              f"{retrain['screened'] / retrain['grid']:.1%} of the grid's {retrain['grid']:,.0f} "
              f"(screen {ours['screen']['cpu_s']:,.0f}, full stage {ours['retrain']['cpu_s']:,.0f}); "
              f"all compute {ours['total']['cpu_s'] / theirs['total']['cpu_s']:.1%} of the grid's")
        reference, other = open_study(grid.path).cells, open_study(full.path).cells
        answers = [a for a in answer_agreement(reference, other) if a["density"] in screened.targets]
        for a in answers:
            if "why" in a:
                print(f"density {a['density']:g} by {a['by']}: no answer in one of them ({a['why']})")
                continue
            print(f"density {a['density']:g} by {a['by']:<10} grid {a['reference']:g}, screened {a['other']:g}: "
                  f"{'agree' if a['agree'] else 'DIFFER'} (the grid's test accuracy {a['loss']:+.4f} +- "
                  f"{a['loss_se']:.4f} lower at the screened pick)")
        agreed = sum(a["agree"] for a in answers)
        print(f"screened at {screen_epochs} of {grid_config.retrain.epochs} retraining epochs: {agreed} of "
              f"{len(answers)} answers agree with the grid's within its standard errors, at "
              f"{retrain['screened'] / retrain['grid']:.1%} of its retraining compute")


def compositions(config_path, overrides: dict, storage: str) -> dict:
    """Return {"grid", "seeded", "composed"}: the setting's three configs, from configs/demo_fast.yaml's levers."""
    fast = load_config(ROOT / "configs/demo_fast.yaml")
    seeds = {"study.dense_seeds": list(fast.study.dense_seeds), "seeds.max_seeds": fast.seeds.max_seeds,
             "seeds.margin": fast.seeds.margin}
    base = load_config(config_path, {**overrides, "study.storage": storage})
    levers = {"grid": {"study.dense_seeds": list(range(fast.seeds.max_seeds))}, "seeded": seeds,
              "composed": {**seeds, "study.search": fast.study.search, "study.screen_epochs": fast.study.screen_epochs}}
    return {kind: load_config(config_path, {**overrides, **lever, "study.storage": storage,
                                            "study.name": f"{base.study.name}_{kind}"})
            for kind, lever in levers.items()}


def side_by_side(config_path, overrides: dict) -> None:
    """Run the grid (6 seeds), the seeded map and the composed study of one setting; print compute and agreement."""
    from analysis.agreement import map_agreement
    from analysis.search import rule_for
    from analysis.seeds import seed_rule_for

    with tempfile.TemporaryDirectory() as storage:
        configs = compositions(config_path, overrides, storage)
        connect(None)
        opened = {}
        for kind, config in configs.items():
            started = time.perf_counter()
            by = config.criterion
            rules = {"rule": rule_for(config, by=by) if config.study.search == "regimes" else None,
                     "seed_rule": seed_rule_for(config, by=by) if config.seeds.max_seeds else None}
            if config.study.screen_epochs is None:
                outcome = run_study(config, **rules)
            else:
                from study.run.screen import run_screened

                _, outcome = run_screened(config, owes_rule=owes_for(config), read_cells=lambda p: read_study(p).cells,
                                          **rules)
            opened[kind] = open_study(outcome.path)
            split = study_compute(opened[kind].study)
            counts = opened[kind].cells["regime"].value_counts()
            screened = f" + {len(opened[kind].screen.trials)} screen" if opened[kind].screen is not None else ""
            print(f"{kind:<9} wall {time.perf_counter() - started:6.1f} s, {len(opened[kind].study.trials)}{screened} "
                  "trials, "
                  f"{len(opened[kind].cells)} cells: {sum(counts.get(r, 0) for r in ('I', 'II-A', 'II-B'))} sure, "
                  f"{counts.get('I?', 0) + counts.get('II?', 0)} unresolved, {counts.get('I|II', 0)} at the "
                  f"boundary (confidence {opened[kind].confidence:.2f} SE); {cost_line(split)}", flush=True)
        grid = opened["grid"]
        total = study_compute(grid.study)["total"]["cpu_s"]
        for kind in ("seeded", "composed"):
            other = opened[kind]
            m = map_agreement(grid.cells, other.cells)
            side = _side_contradictions(grid.cells, other.cells)
            answers = answer_agreement(grid.cells, other.cells, criteria=[grid.criterion])
            equal = sum(1 for a in answers if "why" not in a and a["reference"] == a["other"])
            print(f"{kind} against the grid: compute {study_compute(other.study)['total']['cpu_s'] / total:.1%}; "
                  f"sure in both {m['sure']}: {m['sure_equal']} equal, {m['sure'] - m['sure_equal']} contradicted "
                  f"({side} on the mc side); answers by {grid.criterion}: {equal} equal, "
                  f"{sum(a['agree'] for a in answers)} of {len(answers)} within the grid's noise")
            for a in answers:
                print(f"  density {a['density']:g}: " + (a["why"] if "why" in a else
                      f"grid {a['reference']:g}, {kind} {a['other']:g}: {'agree' if a['agree'] else 'DIFFER'}"))


def _side_contradictions(reference, other) -> int:
    # Cells both call surely whose mc sides differ (I against II-A or II-B).
    keys = ["temperature", "density"]
    both = reference[keys + ["regime"]].merge(other[keys + ["regime"]], on=keys, suffixes=("_ref", "_other"))
    sure = both[both["regime_ref"].map(is_sure) & both["regime_other"].map(is_sure)]
    return int((sure["regime_ref"].map(mc_side) != sure["regime_other"].map(mc_side)).sum())


if __name__ == "__main__":
    main()
