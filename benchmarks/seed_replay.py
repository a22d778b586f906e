"""Replay the seed rule on a finished grid with many dense seeds: what adding seeds where calls are uncertain costs.

    python benchmarks/seed_replay.py studies/cost/demo_grid                 # demo_fast's seeds: 2 first, up to 6
    python benchmarks/seed_replay.py studies/cost/demo_grid --first 3 --max-seeds 6 --margin 0.02

A trial of (temperature, dense seed) computes the same cells whenever it runs (one machine, one
code version: the demo is bit for bit reproducible), so a grid that trained seeds 0..S-1 at
every temperature holds every trial a study adding seeds up to S could run. The replay starts
each temperature with its first seeds, then asks the seed rule (`analysis.seeds.next_seeds`) for
one temperature at a time, `--slots` at once as a study with that many trial slots would (the
temperatures in flight are pending), and reveals that temperature's next seed from the grid;
until the rule is done. It prints what `study_cost.py --side-by-side` prints for its seeded
study: trials, compute (the revealed trials' own, as `regimes status` splits it), calls sure /
unresolved / at the boundary at the spent confidence, and against the grid: sure calls equal and
contradicted, and the answers by the grid's criterion. Seconds, no Ray.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import open_study  # noqa: E402
from analysis.agreement import answer_agreement, map_agreement  # noqa: E402
from analysis.classify import aggregate, classify  # noqa: E402
from analysis.cost import config_split, cost_line  # noqa: E402
from analysis.seeds import next_seeds  # noqa: E402
from contract.seeds import added_seeds, spent_confidence, looks  # noqa: E402


def replay(rows: pd.DataFrame, *, first: list[int], max_seeds: int, margin: float, settings: dict,
           slots: int = 2) -> pd.DataFrame:
    """Return the grid's rows of the trials a seeded study would run, revealed in the seed rule's order."""
    more = added_seeds(first, max_seeds)
    shown = rows[rows["dense_seed"].isin(first)]
    given = {float(t): 0 for t in rows["temperature"].unique()}
    confidence = spent_confidence(settings["confidence"], looks(first, max_seeds))
    while True:
        full = [t for t, n in given.items() if n >= len(more)]
        picks = next_seeds(shown, pending=full, n=slots, margin=margin, max_seeds=max_seeds,
                           **{**settings, "confidence": confidence})
        if not picks:
            return shown
        for t in picks:  # one round of `slots` trials in flight together, then their cells
            seed = more[given[t]]
            given[t] += 1
            shown = pd.concat([shown, rows[(rows["temperature"] == t) & (rows["dense_seed"] == seed)]],
                              ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Print the replayed study's cost, calls and agreement with the grid it was replayed from."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", help="a finished grid study with at least --max-seeds dense seeds")
    parser.add_argument("--first", type=int, default=2, help="first seeds of every temperature (default 2)")
    parser.add_argument("--max-seeds", type=int, default=6)
    parser.add_argument("--margin", type=float, default=0.02)
    parser.add_argument("--slots", type=int, default=2, help="trials in flight at once (default 2)")
    args = parser.parse_args(argv)
    grid = open_study(args.grid)
    rows, config = grid.study.cells, grid.study.config
    seeds = sorted(rows["dense_seed"].unique())
    if len(seeds) < args.max_seeds:
        parser.error(f"{args.grid} has {len(seeds)} dense seeds; --max-seeds {args.max_seeds} needs as many")
    m = config.metrics
    settings = {"knob": config.study.knob, "densities": config.targets, "mc_threshold": m.mc_threshold,
                "cka_eps": m.cka_eps, "confidence": m.confidence, "by": grid.criterion}
    shown = replay(rows, first=list(seeds[:args.first]), max_seeds=args.max_seeds, margin=args.margin,
                   settings=settings, slots=args.slots)
    confidence = spent_confidence(m.confidence, looks(list(seeds[:args.first]), args.max_seeds))
    cells = classify(aggregate(shown), mc_threshold=m.mc_threshold, cka_eps=m.cka_eps, confidence=confidence,
                     margin=args.margin)
    trials = shown.groupby(["temperature", "dense_seed"]).ngroups
    counts = cells["regime"].value_counts()
    total = config_split(rows, config)["total"]["cpu_s"]
    split = config_split(shown, config)
    print(f"seeded (replayed, {args.first} to {args.max_seeds} seeds, margin {args.margin:g}, {args.slots} slots): "
          f"{trials} trials, {len(cells)} cells: {sum(counts.get(r, 0) for r in ('I', 'II-A', 'II-B'))} sure, "
          f"{counts.get('I?', 0) + counts.get('II?', 0)} unresolved, {counts.get('I|II', 0)} at the boundary "
          f"(confidence {confidence:.2f} SE); {cost_line(split)}")
    print("dense seeds per temperature: " + ", ".join(f"{t:g}: {n}" for t, n in
                                                      shown.groupby("temperature")["dense_seed"].nunique().items()))
    agree = map_agreement(grid.cells, cells)
    answers = answer_agreement(grid.cells, cells, criteria=[grid.criterion])
    equal = sum(1 for a in answers if "why" not in a and a["reference"] == a["other"])
    gcounts = grid.cells["regime"].value_counts()
    print(f"grid ({len(seeds)} seeds): {sum(gcounts.get(r, 0) for r in ('I', 'II-A', 'II-B'))} sure, "
          f"{gcounts.get('I?', 0) + gcounts.get('II?', 0)} unresolved")
    print(f"seeded against the grid: compute {split['total']['cpu_s'] / total:.1%}; sure in both {agree['sure']}: "
          f"{agree['sure_equal']} equal, {agree['sure'] - agree['sure_equal']} contradicted; answers by "
          f"{grid.criterion}: {equal} equal, {sum(a['agree'] for a in answers)} of {len(answers)} within the grid's "
          "noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
